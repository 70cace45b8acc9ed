"""What the archive accepts as a document: a non-empty, unencrypted PDF within the limit."""

from __future__ import annotations

import hashlib

import pytest

from archive.domain.documents import check_pdf, sha256_hex
from deploy.local.demo import demo_pdf
from tests.support.documents import blank_pdf, encrypted, with_document_javascript, zip_of

FIELD = "main_document.content"
LIMIT = 1_000_000


def test_a_pdf_is_accepted() -> None:
    assert check_pdf(FIELD, demo_pdf(), LIMIT) == []


def test_a_pdf_of_exactly_the_limit_is_accepted() -> None:
    pdf = demo_pdf()

    assert check_pdf(FIELD, pdf, len(pdf)) == []


def test_an_empty_document_is_refused() -> None:
    problems = check_pdf(FIELD, b"", LIMIT)

    assert [p.field for p in problems] == [FIELD]
    assert "empty" in problems[0].reason


def test_a_document_over_the_limit_is_refused_stating_the_limit_in_bytes() -> None:
    pdf = demo_pdf()

    problems = check_pdf(FIELD, pdf, len(pdf) - 1)

    assert [p.field for p in problems] == [FIELD]
    assert f"the limit is {len(pdf) - 1} bytes" in problems[0].reason
    assert f"{len(pdf)} bytes" in problems[0].reason


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"PK\x03\x04 a zip or docx",
        b"Dear Sir, this is plain text.",
        b"<html><body>%PDF-1.7</body></html>",
    ],
    ids=["png", "zip", "text", "html-mentioning-pdf"],
)
def test_non_pdf_bytes_are_refused(content: bytes) -> None:
    problems = check_pdf(FIELD, content, LIMIT)

    assert [p.field for p in problems] == [FIELD]
    assert "not a PDF" in problems[0].reason


def test_a_pdf_header_after_leading_whitespace_is_accepted() -> None:
    assert check_pdf(FIELD, b"\r\n  " + demo_pdf(), LIMIT) == []


def test_an_encrypted_pdf_is_refused() -> None:
    problems = check_pdf(FIELD, encrypted(demo_pdf()), LIMIT)

    assert [p.field for p in problems] == [FIELD]
    assert "encrypted" in problems[0].reason


def test_a_pdf_with_javascript_is_refused_saying_so() -> None:
    problems = check_pdf(FIELD, with_document_javascript(), LIMIT)

    assert [p.field for p in problems] == [FIELD]
    assert "active content (JavaScript)" in problems[0].reason


def test_a_pdf_that_is_also_a_zip_archive_is_refused() -> None:
    problems = check_pdf(FIELD, blank_pdf() + zip_of(), LIMIT)

    assert [p.reason for p in problems] == ["the file is also a ZIP archive; send the document alone"]


def test_problems_carry_the_field_they_are_given() -> None:
    problems = check_pdf("attachments[2].content", b"", LIMIT)

    assert problems[0].field == "attachments[2].content"


def test_an_unencrypted_pdf_mentioning_encrypt_in_its_text_is_accepted() -> None:
    assert check_pdf(FIELD, demo_pdf("see /Encrypt entry"), LIMIT) == []


def test_sha256_hex_is_the_lowercase_hex_sha256() -> None:
    pdf = demo_pdf()

    assert sha256_hex(pdf) == hashlib.sha256(pdf).hexdigest()
    assert len(sha256_hex(pdf)) == 64
