"""Every text of the site, in French (the default) and English, from the gettext catalogues
in `pickup/locales/<language>/LC_MESSAGES/messages.po`.

Each message's id is the key the pages use (`_('item.title')` in a template); its text is
filled in with `str.format`. The catalogues are read once, at import, from the `.po` files
themselves: no compile step stands between editing a text and running the site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from babel.messages.pofile import read_po

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")
DEFAULT_LANGUAGE: Language = "fr"

LOCALES = Path(__file__).resolve().parent.parent / "locales"


def read_catalogue(language: Language) -> dict[str, str]:
    """The texts of `language` by key, as its catalogue holds them."""
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po, locale=language)
    return {str(message.id): str(message.string) for message in catalogue if message.id}


CATALOGUES: dict[Language, dict[str, str]] = {language: read_catalogue(language) for language in LANGUAGES}


def text(language: str, key: str, **values: object) -> str:
    """The text `key` in `language` (French when unknown), with `values` filled in.

    Raises KeyError for an unknown key or a value the text needs and was not given."""
    template = CATALOGUES["en" if language == "en" else DEFAULT_LANGUAGE][key]
    return template.format(**values) if values else template


def language_of(value: object) -> Language:
    return "en" if value == "en" else DEFAULT_LANGUAGE
