"""The short reference of a case (e.g. LRE-7K3M9Q) that recipients write in the subject of
an email, the text of an MMS or the cover page of a fax, so that the desk can match what
arrives to its case.

Drawn from a CSPRNG over an alphabet without look-alikes (no 0/O, 1/I/L, U/V), so that a
reference read from a photo or a fax and typed again is still the right one.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
LENGTH = 6
PREFIX = "LRE-"
PATTERN = re.compile(rf"\bLRE[-\s]?([{ALPHABET}]{{{LENGTH}}})\b", re.IGNORECASE)


def new_reference() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def find_references(text: str) -> list[str]:
    """Every well-formed reference in a text, normalised, in order, once each."""
    found: list[str] = []
    for match in PATTERN.finditer(text):
        reference = PREFIX + match.group(1).upper()
        if reference not in found:
            found.append(reference)
    return found
