"""Matching the identity a visitor types against what the sender declared.

Case, accents, spacing, punctuation and common abbreviations do not matter: "15, Av. de
l'Opéra" is "15 avenue de l opera". Every declared field must match.
"""

from __future__ import annotations

import re
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
    "sas": "sas",
    "sarl": "sarl",
    "selarl": "selarl",
}

FIELDS = ("company", "last_name", "first_name", "address", "postcode", "city")


# Letters that accent stripping does not decompose, as French keyboards type them.
LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})


def normalise(value: str | None) -> str:
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value.translate(LIGATURES))
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = re.split(r"[^a-z0-9]+", ascii_only.casefold())
    return " ".join(ABBREVIATIONS.get(w, w) for w in words if w)


def mismatched_fields(declared: Mapping[str, str | None], typed: Mapping[str, str | None]) -> list[str]:
    """Fields whose typed value differs from the declared one (never says how)."""
    return [f for f in FIELDS if normalise(declared.get(f)) != normalise(typed.get(f))]
