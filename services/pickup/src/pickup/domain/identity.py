"""Matching the identity a visitor types against what the sender declared.

The identity step is how the site makes sure the visitor is the recipient before anything
of the letter is shown (CPCE R.53-3), so it matches on what identifies: the letters and
digits of each field, in any script. Careless typing does not matter: case, accents and
other diacritics, letters that have no accent to strip but a usual spelling without one
(ø, ł, æ, ß, đ, þ...), spacing, punctuation, dotted initials and common abbreviations:
"15, Av. de l'Opéra" is "15 avenue de l opera", "S.A.R.L." is "SARL", "75 001" is "75001",
"Søren Łukasiewicz" is "Soren Lukasiewicz". Letters of other scripts (王小明, Пётр, Ελένη,
ليلى) are letters like any other, never dropped: 王 小明 is not 李 大伟.

Nothing is matched on an empty remainder. A declared field with no letter or digit ("-")
can be matched by nothing; a required field typed with none is not an answer at all (the
form asks for it again, see `incomplete_fields`). Only the optional company may be left
empty, and then matches only when the sender declared none. Every declared field must match.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

ABBREVIATIONS = {
    "r": "rue",
    "av": "avenue",
    "ave": "avenue",
    "bd": "boulevard",
    "bld": "boulevard",
    "bvd": "boulevard",
    "pl": "place",
    "che": "chemin",
    "ch": "chemin",
    "imp": "impasse",
    "all": "allee",
    "rte": "route",
    "fg": "faubourg",
    "st": "saint",
    "ste": "sainte",
}

FIELDS = ("company", "last_name", "first_name", "address", "postcode", "city")
OPTIONAL = frozenset({"company"})

# Letters that stripping diacritics does not decompose, written as keyboards without them
# type them (after case folding, which already turns ß and ẞ into "ss").
TRANSLITERATION = str.maketrans(
    {
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "ng",
    }
)


def normalise(value: str | None) -> str:
    """The words of `value` as they are compared, separated by single spaces: "" when it
    has no letter or digit."""
    if not value:
        return ""
    folded = unicodedata.normalize("NFKC", value).casefold()
    kept = []
    for char in unicodedata.normalize("NFD", folded):
        category = unicodedata.category(char)
        if category in ("Mn", "Me", "Cf"):
            # Diacritics (accents, cedillas, Greek tonos, Arabic harakat, Hebrew niqqud) and
            # invisible characters (soft hyphens, zero-width joiners, variation selectors).
            continue
        if category == "Nd":
            kept.append(str(unicodedata.decimal(char)))  # ٧٥٠٠١ is 75001
        elif category[0] in "LNM":
            kept.append(char.translate(TRANSLITERATION))
        else:
            kept.append(" ")
    words = _initials_joined(unicodedata.normalize("NFC", "".join(kept)).split())
    return " ".join(ABBREVIATIONS.get(w, w) for w in words)


def _initials_joined(words: list[str]) -> list[str]:
    """Runs of single letters as one word: "s a r l" is "sarl", so that "S.A.R.L." is
    "SARL" and its "r" is no abbreviation of "rue"."""
    joined: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        if run:
            joined.extend(["".join(run)] if len(run) > 1 else run)
            run = []
        if word:
            joined.append(word)
    return joined


def _compared(value: str | None) -> str:
    # Word breaks do not count either: "75 001" is "75001", "Le Roy" is "Leroy", and
    # scripts written without spaces match however the visitor spaces them.
    return normalise(value).replace(" ", "")


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _matches(name: str, declared: str | None, typed: str | None) -> bool:
    if _blank(declared):
        # None declared: only an optional field left empty (or without a letter) matches.
        return name in OPTIONAL and not _compared(typed)
    expected = _compared(declared)
    # A declared value with no letter or digit gives nothing to compare: nothing matches it.
    return bool(expected) and _compared(typed) == expected


def mismatched_fields(declared: Mapping[str, str | None], typed: Mapping[str, str | None]) -> list[str]:
    """Fields whose typed value differs from the declared one (never says how)."""
    return [f for f in FIELDS if not _matches(f, declared.get(f), typed.get(f))]


def incomplete_fields(typed: Mapping[str, str | None]) -> list[str]:
    """Required fields typed with no letter or digit: an incomplete form, not an answer."""
    return [f for f in FIELDS if f not in OPTIONAL and not _compared(typed.get(f))]
