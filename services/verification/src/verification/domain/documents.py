"""What the desk takes as an identity document: PDF, JPEG or PNG, judged by parsing their
bytes (never by a file name or a declared type, both chosen by whoever sends; see
lre_shared.uploads for what is refused), up to a size limit stated in every refusal."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lre_shared import uploads

EXTENSIONS = {uploads.PDF: "pdf", uploads.JPEG: "jpg", uploads.PNG: "png"}


@dataclass(frozen=True)
class Refusal:
    reason: str


def check(filename: str, content: bytes, max_bytes: int) -> str | Refusal:
    """The content type of an acceptable document, or why it is refused."""
    if not content:
        return Refusal(f"{filename}: the file is empty")
    if len(content) > max_bytes:
        return Refusal(
            f"{filename}: {len(content)} bytes is over the limit of {max_bytes} bytes"
            f" ({max_bytes / 1_000_000:.1f} MB) per document"
        )
    # Parsed, not sniffed: the desk's agents open what passes (lre_shared.uploads).
    judged = uploads.inspect_document(content)
    if isinstance(judged, uploads.Refused):
        return Refusal(f"{filename}: {judged}")
    return judged


_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_filename(filename: str, kind: str) -> str:
    """A name to show and to serve: no path, no control characters, the right extension."""
    base = _UNSAFE.sub("_", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip(" ._")[:120]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem or 'document'}.{EXTENSIONS[kind]}"
