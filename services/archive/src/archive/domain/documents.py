"""What the archive accepts as a document."""

from __future__ import annotations

import hashlib
import re

from lre_shared.messages import Problem

PDF_MAGIC = b"%PDF-"
_ENCRYPT = re.compile(rb"/Encrypt\s")


def check_pdf(field: str, content: bytes, max_bytes: int) -> list[Problem]:
    """Problems with one document, judged by its bytes, never by its name."""
    problems: list[Problem] = []
    if len(content) == 0:
        problems.append(Problem(field=field, reason="the document is empty"))
    elif len(content) > max_bytes:
        problems.append(
            Problem(
                field=field,
                reason=f"the document is {len(content)} bytes; the limit is {max_bytes} bytes",
            )
        )
    elif not content[:1024].lstrip().startswith(PDF_MAGIC):
        problems.append(Problem(field=field, reason="the document is not a PDF (no %PDF- header)"))
    elif _ENCRYPT.search(content):
        problems.append(Problem(field=field, reason="the PDF is encrypted; deposit it without a password"))
    return problems


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
