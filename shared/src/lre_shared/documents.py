"""The platform's own PDFs: proofs, the acknowledgement-of-receipt form, fax pages and demo
letters, all rendered here so that every one of them spells every name.

A proof names people: "Łukasz Dvořák", "Ørsted", "Nguyễn Thị Minh Khai" must read exactly so
on the page and in the text a reader or a court's tool extracts. So the text is set in DejaVu
Sans (Latin, Latin Extended-A/B, Vietnamese, Greek, Cyrillic; see `fonts/README.md`),
embedded as a subset with a ToUnicode map, never in a base-14 font limited to WinAnsi.

Documents are PDF/A-3b (ISO 19005-3): fonts embedded, an sRGB output intent and XMP
metadata, as archiving a proof for years asks; fpdf2 writes all three. A seal or a signature
added later by an incremental update (pyHanko) leaves the rendered bytes as they are.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fontTools import ttLib  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.enums import Align, WrapMode, XPos, YPos
from fpdf.fonts import SubsetMap, TTFFont

FONTS = Path(__file__).parent / "fonts"
FAMILY = "DejaVuSans"
MARGIN = 56.0  # points, on A4
PDFA = "PDFA_3B"
# A fixed date for documents whose bytes must not depend on when they were made: fpdf2 writes
# the time of writing into the XMP metadata, except for this creation time, its mark of a
# reproducible document. The same text then gives the same bytes.
EPOCH = datetime(1969, 12, 31, 19, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Paragraph:
    """Text wrapped to the page width at `size` points, `indent` points in from the margin."""

    text: str
    size: float = 10.0
    bold: bool = False
    indent: float = 0.0
    leading: float = 1.45  # line height, as a multiple of the size


@dataclass(frozen=True)
class PageBreak:
    """What follows starts a new page."""


Block = Paragraph | PageBreak


@dataclass(frozen=True)
class Attachment:
    """A file the document carries (PDF/A-3 associated file, ISO 19005-3 §6.8): its bytes
    as they are, under `name`, related to the document as `relationship` says (Source: what
    the document was made from; Supplement: what completes it)."""

    name: str
    content: bytes
    description: str
    mime_type: str = "application/json"
    relationship: str = "Source"


# A font as fpdf2 reads it (`FPDF.add_font`): its widths and glyph ids for every character,
# which take most of a proof's rendering time to compute (about 0.9 s for the two faces), read
# once per process. Each document gets its own copy of the per-document parts: the subset of
# the characters it uses, and the font file itself, which fpdf2 cuts down in place when it
# writes the document. Only fpdf2's own attributes are set: the same bytes as `add_font`.
_FONTS: dict[str, TTFFont] = {}
_FONTS_LOCK = threading.Lock()


def _add_font(pdf: FPDF, style: str, path: Path) -> None:
    key = f"{FAMILY.lower()}{style}"
    with _FONTS_LOCK:
        if key not in _FONTS:
            scratch = FPDF(unit="pt", format="A4")
            scratch.add_font(FAMILY, style, path)
            read = scratch.fonts[key]
            assert isinstance(read, TTFFont)
            _FONTS[key] = read
        prototype = _FONTS[key]
    font = copy.copy(prototype)
    font.i = len(pdf.fonts) + 1
    font.ttfont = ttLib.TTFont(path, recalcTimestamp=False, lazy=True)
    font.cw = copy.copy(prototype.cw)
    font.glyph_ids = dict(prototype.glyph_ids)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font._hbfont = None
    font.subset = SubsetMap(font)
    pdf.fonts[key] = font


def _document(title: str, *, created: datetime | None, compress: bool, bottom: float = MARGIN) -> FPDF:
    pdf = FPDF(unit="pt", format="A4", enforce_compliance=PDFA)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=bottom)
    _add_font(pdf, "", FONTS / "DejaVuSans.ttf")
    _add_font(pdf, "B", FONTS / "DejaVuSans-Bold.ttf")
    pdf.set_title(title)
    pdf.set_producer("LRE")
    pdf.set_lang("fr-FR")
    pdf.set_creation_date(created or datetime.now(UTC))
    pdf.set_compression(compress)
    return pdf


def render_document(
    blocks: Iterable[Block],
    *,
    title: str,
    created: datetime | None = None,
    compress: bool = True,
    bottom: float = MARGIN,
    attachments: Iterable[Attachment] = (),
) -> bytes:
    """A4 pages of `blocks`, flowing onto new pages as they fill, no text lower than `bottom`
    points from the page's foot (room for a signature field); `created` defaults to now.
    Each attachment is embedded as an associated file of the document."""
    pdf = _document(title, created=created, compress=compress, bottom=bottom)
    for attachment in attachments:
        pdf.embed_file(
            bytes=attachment.content,
            basename=attachment.name,
            desc=attachment.description,
            mime_type=attachment.mime_type,
            associated_file_relationship=attachment.relationship,
            modification_date=created or datetime.now(UTC),
            compress=True,
        )
    pdf.add_page()
    for block in blocks:
        if isinstance(block, PageBreak):
            pdf.add_page()
            continue
        pdf.set_font(FAMILY, "B" if block.bold else "", block.size)
        pdf.set_x(MARGIN + block.indent)
        pdf.multi_cell(
            pdf.epw - block.indent,
            block.size * block.leading,
            block.text,
            align=Align.L,  # justified text spaces words out, and extracted text with them
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
            # A hash or an address without a space still breaks, at the page's edge.
            wrapmode=WrapMode.WORD if " " in block.text.strip() else WrapMode.CHAR,
        )
    return bytes(pdf.output())


def render_line(text: str, *, size: float, title: str, created: datetime = EPOCH) -> bytes:
    """One page with `text` on a single line, never wrapped, uncompressed: its size grows
    with the text (a letter of N characters weighs more than N bytes), and the same text
    gives the same bytes."""
    pdf = _document(title, created=created, compress=False)
    pdf.add_page()
    pdf.set_font(FAMILY, "", size)
    pdf.text(72, 842 - 720, text)
    return bytes(pdf.output())
