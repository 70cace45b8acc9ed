"""What the archive accepts as a document."""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

from lre_shared import uploads
from lre_shared.contracts import Problem

PDF_MAGIC = b"%PDF-"


def check_pdf(field: str, content: bytes, max_bytes: int) -> list[Problem]:
    """Problems with one document, judged by its bytes, never by its name."""
    return check_pdf_stream(field, io.BytesIO(content), len(content), max_bytes)


def check_pdf_stream(field: str, stream: BinaryIO, size: int, max_bytes: int) -> list[Problem]:
    """`check_pdf` on a seekable stream of `size` bytes (an uploaded document spooled to a
    temporary file): the PDF parser reads what it needs, the document is never held whole."""
    if size == 0:
        return [Problem(field=field, reason="the document is empty")]
    if size > max_bytes:
        return [Problem(field=field, reason=f"the document is {size} bytes; the limit is {max_bytes} bytes")]
    stream.seek(0)
    if not stream.read(1024).lstrip().startswith(PDF_MAGIC):
        return [Problem(field=field, reason="the document is not a PDF (no %PDF- header)")]
    # The same inspection as every upload (lre_shared.uploads): the recipient opens what is
    # deposited, so no scripts, actions, attached files or hidden archive.
    refused = uploads.inspect_pdf(stream)
    if refused is None:
        return []
    if refused.flaw is uploads.Flaw.encrypted:
        return [Problem(field=field, reason="the PDF is encrypted; deposit it without a password")]
    if refused.flaw is uploads.Flaw.unreadable:
        return [Problem(field=field, reason=f"the PDF cannot be read: {refused.detail}")]
    return [Problem(field=field, reason=str(refused))]


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
