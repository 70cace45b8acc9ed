"""Documents the tests hand to the platform."""

from __future__ import annotations

import io

from pypdf import PdfWriter


def encrypted(pdf: bytes) -> bytes:
    """`pdf` behind a password: a PDF the archive must refuse."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
