"""SMS length in GSM-7 segments, the SMS text, the voice script and its TwiML, the fax PDF."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from io import BytesIO

import pytest
from pypdf import PdfReader

from notifier.adapters.fax import fax_pages
from notifier.adapters.pdf import text_pdf
from notifier.adapters.telephony import voice_twiml
from notifier.domain.gsm7 import is_gsm7, segments, septets
from notifier.domain.notice import Notice, sms_text, spoken_digits

NOTICE = Notice("799273987130", "https://lre.example", date(2025, 3, 16))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é" * 160, 1),  # é is in the GSM-7 basic table
        ("€" * 80, 1),  # the extension table takes two septets a character
        ("€" * 81, 2),
        ("ê" * 70, 1),  # ê is not GSM-7: UCS-2, 70 a segment
        ("ê" * 71, 2),
        ("ê" * 134, 2),
        ("ê" * 135, 3),
    ],
)
def test_segments_follow_3gpp_23_038(text: str, expected: int) -> None:
    assert segments(text) == expected


def test_extension_characters_count_two_septets() -> None:
    assert septets("a[b]") == 6
    assert is_gsm7("{}") and not is_gsm7("ç")


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_sms_is_gsm7_within_two_segments(language: str) -> None:
    notice = Notice("799273987130", "https://pickup.lettre-recommandee.example/", date(2025, 3, 16), language)  # type: ignore[arg-type]

    text = sms_text(notice)

    assert is_gsm7(text), [c for c in text if not is_gsm7(c)]
    assert segments(text) <= 2
    assert (
        "799273987130" in text
        and "16/03/2025" in text
        and "https://pickup.lettre-recommandee.example/" in text
    )


def test_the_item_number_is_spoken_digit_by_digit() -> None:
    assert spoken_digits("7992") == "7, 9, 9, 2"


def test_the_twiml_says_in_french_that_a_letter_waits_reads_the_number_twice_and_the_site() -> None:
    root = ET.fromstring(voice_twiml(NOTICE))  # noqa: S314 - our own TwiML

    assert root.tag == "Response"
    says = [element for element in root if element.tag == "Say"]
    assert {say.get("language") for say in says} == {"fr-FR"}
    spoken = [say.text or "" for say in says]
    assert "lettre recommandée électronique vous attend" in spoken[0]
    assert spoken.count("7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3, 0") == 2
    assert "lre point example" in spoken[-1]
    assert any(element.tag == "Pause" for element in root)


def test_the_fax_has_a_cover_page_then_the_notice_and_is_a_pdf() -> None:
    pages = fax_pages(NOTICE)
    pdf = text_pdf(pages)

    assert len(pages) == 2
    assert pages[0][0] == "Télécopie"
    assert any("799273987130" in line for line in pages[1])
    assert pdf.startswith(b"%PDF-1.7") and pdf.rstrip().endswith(b"%%EOF")
    assert b"/Count 2" in pdf
    assert PdfReader(BytesIO(pdf)).pages[0].extract_text().startswith("Télécopie")


@pytest.mark.parametrize("name", ["Łukasz Dvořák", "Ørsted", "Nguyễn Thị Minh Khai"])
def test_the_fax_spells_the_recipients_name_exactly(name: str) -> None:
    pdf = text_pdf([["Télécopie", f"Destinataire : {name}"], ["Avis"]])

    assert f"Destinataire : {name}" in PdfReader(BytesIO(pdf)).pages[0].extract_text()
    assert b"/FontFile2" in pdf and b"/Helvetica" not in pdf
