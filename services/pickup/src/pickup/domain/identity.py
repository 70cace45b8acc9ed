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
from collections.abc import Mapping, Sequence
from datetime import date

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


# ------------------------------------------------------------------ identity provider
# A recipient may prove who they are through an identity provider instead (CPCE R.53-1: eIDAS
# level substantial or high, FranceConnect+). Its names are compared with the letter's
# recipient by the rules above, on what such a provider gives: the family name at birth
# (`family_name`), or the name in use (`preferred_username`, FranceConnect's nom d'usage, e.g.
# a married name), and every given name in civil-status order (`given_name`, "Camille
# Marie"), of which the sender usually declares the one in use: any run of consecutive given
# names matches ("Camille", "Marie", "Camille Marie"). A birth date the sender declared
# (`recipient.birth_date`) must be the provider's `birthdate` too, so that a namesake is not
# taken for the recipient.


def _given_name_runs(given_names: str) -> set[str]:
    words = normalise(given_names).split()
    return {"".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}


def declared_for_provider(recipient: Mapping[str, object]) -> dict[str, object]:
    """The letter's recipient (`LetterDeposited.recipient`, as the letter keeps it) as
    `provider_mismatch` compares it: the names as they are, and the birth date declared at
    deposit (`birth_date`) as `birthdate`, ISO YYYY-MM-DD like the OpenID Connect claim.
    CPCE R.53-1: the provider identifies the recipient, not merely someone of that name."""
    born = recipient.get("birth_date")
    birthdate = born.isoformat() if isinstance(born, date) else born if isinstance(born, str) else None
    return {**recipient, "birthdate": birthdate}


def provider_mismatch(declared: Mapping[str, object], claims: Mapping[str, object]) -> str | None:
    """Why the provider's `claims` are not the declared recipient (`declared_for_provider`),
    in words for the desk's agent and the evidence (the names on both sides, never the birth
    dates); None when they match."""

    def text(value: object) -> str:
        return value.strip() if isinstance(value, str) else ""

    family, usage, given = (
        text(claims.get("family_name")),
        text(claims.get("preferred_username")),
        text(claims.get("given_name")),
    )
    letter_names = f"{text(declared.get('last_name')).upper()} {text(declared.get('first_name'))}".strip()
    if not _compared(family) or not _compared(given):
        missing = [
            name for name, value in (("family_name", family), ("given_name", given)) if not _compared(value)
        ]
        return f"identity provider gave no {' and no '.join(missing)}; the letter names {letter_names}"
    provider_names = f"{family.upper()} {given}"
    last = _compared(text(declared.get("last_name")))
    first = _compared(text(declared.get("first_name")))
    names_match = (
        bool(last)
        and last in {_compared(family), _compared(usage)}
        and bool(first)
        and first in _given_name_runs(given)
    )
    if not names_match:
        return f"identity provider names {provider_names}; the letter names {letter_names}"
    born = text(declared.get("birthdate"))
    if born and text(claims.get("birthdate")) != born:
        return f"identity provider gives another birth date for {provider_names} than the letter declares"
    return None


def level_accepted(acr: object, accepted: Sequence[str]) -> bool:
    """CPCE R.53-1: only the levels accepted (eIDAS substantial and high) identify a recipient;
    a sign-in with no level said is not one of them."""
    return isinstance(acr, str) and acr in accepted
