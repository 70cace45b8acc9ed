"""The platform's PDFs spell every name, in an embedded font, as PDF/A-3."""

from __future__ import annotations

from io import BytesIO

import pytest
from pypdf import PdfReader

from lre_shared.documents import Attachment, PageBreak, Paragraph, render_document, render_line

NAMES = ["Łukasz Dvořák", "Ørsted", "Nguyễn Thị Minh Khai"]
BASE_14 = ("Helvetica", "Times", "Courier", "Symbol", "ZapfDingbats")


def fonts(pdf: bytes) -> list[dict[str, object]]:
    found = []
    for page in PdfReader(BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            found.append(font.get_object())
    return found


@pytest.mark.parametrize("name", NAMES)
def test_a_document_spells_every_name_exactly_in_its_extracted_text(name: str) -> None:
    pdf = render_document([Paragraph("Destinataire", bold=True), Paragraph(name)], title=name)

    assert name in PdfReader(BytesIO(pdf)).pages[0].extract_text()


def test_every_font_is_embedded_and_none_is_a_base_14_font() -> None:
    pdf = render_document([Paragraph(" ".join(NAMES), bold=True), Paragraph(" ".join(NAMES))], title="t")

    used = fonts(pdf)
    assert len(used) == 2
    for font in used:
        descendant = font["/DescendantFonts"][0].get_object()  # type: ignore[index]
        assert "/FontFile2" in descendant["/FontDescriptor"]
        assert not any(base in str(font["/BaseFont"]) for base in BASE_14)


def test_a_document_is_pdf_a_3b() -> None:
    pdf = render_document([Paragraph("Ørsted")], title="t")

    metadata = PdfReader(BytesIO(pdf)).xmp_metadata
    assert metadata is not None
    xmp = metadata.stream.get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp and b"<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert b"/OutputIntents" in pdf


def test_a_document_carries_its_attachments_byte_for_byte_as_associated_files() -> None:
    record, seal = b'{"seq":1}', b'{"cms":"..."}'
    pdf = render_document(
        [Paragraph("Preuve de dépôt")],
        title="t",
        attachments=[
            Attachment("0001.json", record, "record 1"),
            Attachment("0001.seal.json", seal, "its seal", relationship="Supplement"),
        ],
    )

    reader = PdfReader(BytesIO(pdf))
    specs = [spec.get_object() for spec in reader.trailer["/Root"]["/AF"]]
    assert reader.attachments == {"0001.json": [record], "0001.seal.json": [seal]}
    assert [(spec["/F"], spec["/AFRelationship"]) for spec in specs] == [
        ("0001.json", "/Source"),
        ("0001.seal.json", "/Supplement"),
    ]


def test_a_page_break_starts_a_new_page_and_long_text_flows_onto_more() -> None:
    assert (
        len(
            PdfReader(
                BytesIO(render_document([Paragraph("a"), PageBreak(), Paragraph("b")], title="t"))
            ).pages
        )
        == 2
    )
    long = [Paragraph(f"ligne {n} " + "x" * 300) for n in range(60)]
    assert len(PdfReader(BytesIO(render_document(long, title="t"))).pages) >= 2


def test_a_line_gives_the_same_bytes_every_time_and_grows_with_its_text() -> None:
    assert render_line("Ørsted", size=18, title="t") == render_line("Ørsted", size=18, title="t")
    assert len(render_line("x" * 100_000, size=18, title="t")) > 100_000
    assert (
        "Łukasz Dvořák"
        in PdfReader(BytesIO(render_line("Łukasz Dvořák", size=18, title="t"))).pages[0].extract_text()
    )
