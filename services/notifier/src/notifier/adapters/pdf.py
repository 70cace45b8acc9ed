"""The fax's pages, rendered by `lre_shared.documents`: every name spelled as written."""

from __future__ import annotations

from collections.abc import Sequence

from lre_shared.documents import Block, PageBreak, Paragraph, render_document


def text_pdf(pages: Sequence[Sequence[str]]) -> bytes:
    """One A4 page per item of `pages`, each a list of lines (the first one larger)."""
    blocks: list[Block] = []
    for index, lines in enumerate(pages):
        if index:
            blocks.append(PageBreak())
        blocks += [
            Paragraph(line, size=20 if number == 0 else 12, leading=1.2 if number == 0 else 1.35)
            for number, line in enumerate(lines)
        ]
    return render_document(blocks, title=pages[0][0] if pages and pages[0] else "Fax")
