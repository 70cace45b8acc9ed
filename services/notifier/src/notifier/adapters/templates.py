"""The notice email, text and HTML, from the Jinja2 templates in `notifier/templates/`.

French is the default; English when the sender asked for it. The templates receive only
what a `Notice` holds: never the sender nor the subject (CPCE R.53-3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import jinja2

from lre_shared.contracts import NoticeKind
from notifier.domain.notice import Language, Notice, deadline_text

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

SUBJECTS: dict[tuple[Language, NoticeKind], str] = {
    ("fr", NoticeKind.notice): "Une lettre recommandée électronique vous attend",
    ("fr", NoticeKind.reminder): "Rappel : une lettre recommandée électronique vous attend",
    ("en", NoticeKind.notice): "A registered electronic letter awaits you",
    ("en", NoticeKind.reminder): "Reminder: a registered electronic letter awaits you",
}


@dataclass(frozen=True)
class NoticeText:
    subject: str
    text: str
    html: str


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(notice: Notice) -> NoticeText:
    values = {
        "item_number": notice.item_number,
        "link": notice.link,
        "deadline": deadline_text(notice),
        "reminder": notice.kind is NoticeKind.reminder,
        "opt_out_url": notice.opt_out_url,
    }
    env = _environment()
    return NoticeText(
        subject=SUBJECTS[(notice.language, notice.kind)],
        text=env.get_template(f"notice.{notice.language}.txt").render(values),
        html=env.get_template(f"notice.{notice.language}.html").render(values),
    )


def render_notice(item_number: str, pickup_url: str, deadline: date, language: Language = "fr") -> NoticeText:
    """The first notice: the item number, the pickup link and the deadline."""
    return render(Notice(item_number, pickup_url, deadline, language))
