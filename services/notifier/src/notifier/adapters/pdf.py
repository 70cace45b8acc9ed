"""A minimal PDF writer: pages of Helvetica text, enough for a fax cover page and notice."""

from __future__ import annotations

from collections.abc import Sequence

from lre_shared.pdf import assemble


def _escape(line: str) -> bytes:
    # WinAnsi covers French accents; anything else becomes '?'.
    safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return safe.encode("cp1252", errors="replace")


def text_pdf(pages: Sequence[Sequence[str]]) -> bytes:
    """One A4 page per item of `pages`, each a list of lines (the first one larger)."""
    page_count = len(pages)
    font_id = 3 + 2 * page_count
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{3 + 2 * i} 0 R".encode() for i in range(page_count))
        + f"] /Count {page_count} >>".encode(),
    ]
    for index, lines in enumerate(pages):
        content = bytearray(b"BT /F1 20 Tf 72 770 Td 24 TL")
        for number, line in enumerate(lines):
            if number == 1:
                content += b" /F1 12 Tf 16 TL"
            content += b" (" + _escape(line) + b") Tj T*"
        content += b" ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {4 + 2 * index} 0 R"
            f" /Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + bytes(content) + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    return assemble(objects)
