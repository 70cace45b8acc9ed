"""The fonts read once per process give documents byte for byte the same as fpdf2's own
`add_font` does, one after another, whatever each document's characters."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from lre_shared import documents
from lre_shared.documents import EPOCH, Paragraph, render_document


def _render(text: str) -> bytes:
    blocks = [Paragraph("Preuve de dépôt", 14, bold=True), Paragraph(text)]
    return render_document(blocks, title="Preuve", created=EPOCH)


TEXTS = ("Łukasz Dvořák, Ørsted", "Nguyễn Thị Minh Khai — Жизнь ΑΒΓ", "Łukasz Dvořák, Ørsted")


def test_documents_are_the_bytes_fpdf2_add_font_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    cached = [_render(text) for text in TEXTS]

    def add_font(pdf: FPDF, style: str, path: Path) -> None:
        pdf.add_font(documents.FAMILY, style, path)

    monkeypatch.setattr(documents, "_add_font", add_font)
    plain = [_render(text) for text in TEXTS]
    assert cached == plain
    assert cached[0] == cached[2] != cached[1]  # each document its own subset
