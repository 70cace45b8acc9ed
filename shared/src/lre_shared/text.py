"""Text every service can hold, checked once, where it enters the platform.

A name, an address or a file name that a sender system or a visitor types travels through
every service: stored in each one's PostgreSQL, printed on proofs, written into emails, SMS
and file names. So what the archive accepts must be text that all of them can hold and show
as it is, and the same rule applies wherever text comes in:

- no control characters (C0, C1, DEL): PostgreSQL refuses NUL outright, the others break
  mail headers, logs and PDF text;
- no lone surrogates: they cannot be encoded in UTF-8 at all;
- no format characters (Unicode category Cf): bidirectional embeddings, overrides and
  isolates (U+202A-U+202E, U+2066-U+2069) make a name read otherwise than it is stored, and
  zero-width characters (U+200B-U+200D, U+2060, U+FEFF) make two different names look alike;
  on a legal proof, what is read must be what was recorded;
- no private-use characters and no line or paragraph separators: no font shows them;
- a length in characters and, where storage counts them, in UTF-8 bytes (a file name on most
  file systems and in a zip: 255 bytes).

Letters and marks of every script are welcome: Łukasz Dvořák, 王小明, Ørsted, Nguyễn Thị.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

# Unicode general categories no field may hold (see the module's docstring).
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})

_KIND = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character (bidirectional or zero-width)",
    "Cs": "a lone surrogate",
    "Co": "a private-use character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def text_fault(value: str, *, max_chars: int | None = None, max_bytes: int | None = None) -> str | None:
    """Why `value` cannot be held, in words a sender or a visitor can act on; None when it can.

    Bounded work whatever the input: the length first, then each distinct character once.
    """
    if max_chars is not None and len(value) > max_chars:
        return f"longer than {max_chars} characters"
    if value.isascii():
        # The common case, in C: only C0 controls and DEL can be wrong in ASCII.
        if value.isprintable():
            return _bytes_fault(value, max_bytes)
        distinct = {c for c in set(value) if not c.isprintable()}
    else:
        distinct = {c for c in set(value) if unicodedata.category(c) in REFUSED_CATEGORIES}
    if distinct:
        first = min(distinct, key=value.index)
        kind = _KIND[unicodedata.category(first)]
        return f"contains {kind} U+{ord(first):04X} at position {value.index(first) + 1}; remove it"
    return _bytes_fault(value, max_bytes)


def _bytes_fault(value: str, max_bytes: int | None) -> str | None:
    if max_bytes is not None and len(value) * 4 > max_bytes:
        size = len(value.encode("utf-8", errors="surrogatepass"))
        if size > max_bytes:
            return f"longer than {max_bytes} bytes in UTF-8 ({size} bytes)"
    return None


def _safe(value: str) -> str:
    if fault := text_fault(value):
        raise ValueError(fault)
    return value


def _file_name(value: str) -> str:
    if fault := text_fault(value, max_bytes=FILE_NAME_BYTES):
        raise ValueError(fault)
    return value


FILE_NAME_BYTES = 255  # most file systems, and the zip the recipient downloads

# A `str` field that holds only text every service can hold (the module's rules); its length
# in characters is the field's own `max_length`.
SafeText = Annotated[str, AfterValidator(_safe)]
# A file name: safe text of at most 255 UTF-8 bytes.
FileName = Annotated[str, AfterValidator(_file_name)]
