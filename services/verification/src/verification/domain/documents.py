"""What the desk takes as an identity document: PDF, JPEG or PNG, recognised by their
bytes (never by a file name or a declared type, both chosen by whoever sends), up to a
size limit stated in every refusal."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Magic numbers: the first bytes every file of the type starts with.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


@dataclass(frozen=True)
class Refusal:
    reason: str


def content_type(content: bytes) -> str | None:
    for signature, kind in SIGNATURES:
        if content.startswith(signature):
            return kind
    return None


def check(filename: str, content: bytes, max_bytes: int) -> str | Refusal:
    """The content type of an acceptable document, or why it is refused."""
    if not content:
        return Refusal(f"{filename}: the file is empty")
    if len(content) > max_bytes:
        return Refusal(
            f"{filename}: {len(content)} bytes is over the limit of {max_bytes} bytes"
            f" ({max_bytes / 1_000_000:.1f} MB) per document"
        )
    kind = content_type(content)
    if kind is None:
        return Refusal(f"{filename}: only PDF, JPEG and PNG files are accepted")
    return kind


_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_filename(filename: str, kind: str) -> str:
    """A name to show and to serve: no path, no control characters, the right extension."""
    base = _UNSAFE.sub("_", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip(" ._")[:120]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem or 'document'}.{EXTENSIONS[kind]}"
