"""The short reference of a case (e.g. LRE-7K3M9Q) that recipients write in the subject of
an email, the text of an MMS or the cover page of a fax, so that the desk can match what
arrives to its case.

Drawn from a CSPRNG over an alphabet without look-alikes (no 0/O, 1/I/L, U/V), so that a
reference read from a photo or a fax and typed again is still the right one.

A message names one case: the reference in its subject or, when the subject names none, in
its text. A message naming several is refused whole, so that no answer ever tells which of
many guessed references belongs to an open case. Finding them is bounded work whatever the
message holds: a linear pattern over the first `SCAN_CHARS` characters, at most
`MAX_CANDIDATES` matches looked at.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
LENGTH = 6
PREFIX = "LRE-"
PATTERN = re.compile(rf"\bLRE[-\s]?([{ALPHABET}]{{{LENGTH}}})\b", re.IGNORECASE)
# Recipients write the reference at the top (subject, first lines, fax cover page); what lies
# further down is quoted mail and signatures.
SCAN_CHARS = 64 * 1024
# A text quoting the same reference again and again is still read in bounded time.
MAX_CANDIDATES = 1000


class SeveralReferences(ValueError):
    """The message names more than one case."""


def new_reference() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def find_references(text: str, limit: int = 10) -> list[str]:
    """The well-formed references at the start of a text (`SCAN_CHARS`), normalised, in
    order, once each: at most `limit` of them, from at most `MAX_CANDIDATES` matches."""
    found: dict[str, None] = {}
    for count, match in enumerate(PATTERN.finditer(text, 0, SCAN_CHARS)):
        if count == MAX_CANDIDATES:
            break
        found[PREFIX + match.group(1).upper()] = None
        if len(found) == limit:
            break
    return list(found)


def named_reference(subject: str, text: str) -> str | None:
    """The one reference a message names: its subject's, else its text's; None when neither
    names one. Raises SeveralReferences when the subject, or else the text, names more."""
    for place in (subject, text):
        found = find_references(place, limit=2)
        if len(found) > 1:
            raise SeveralReferences("one reference per message")
        if found:
            return found[0]
    return None
