"""What the archive accepts as a document."""

from __future__ import annotations

import hashlib
import io
import logging
from typing import BinaryIO

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from lre_shared.messages import Problem

PDF_MAGIC = b"%PDF-"

logging.getLogger("pypdf").setLevel(logging.ERROR)


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
    stream.seek(0)
    try:
        reader = PdfReader(stream, strict=False)
        encrypted = reader.is_encrypted
        if not encrypted:
            _ = len(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        return [Problem(field=field, reason=f"the PDF cannot be read: {exc}")]
    if encrypted:
        return [Problem(field=field, reason="the PDF is encrypted; deposit it without a password")]
    return []


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
