"""What the desk accepts as a document (PDF, JPEG, PNG by their bytes, within the size
limit), the case references it recognises in what arrives, the links that show
documents, and their encryption at rest."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.exceptions import InvalidTag

from tests.support.documents import blank_pdf, image, png_bomb, with_document_javascript, zip_of
from verification.adapters.vault import Sealer
from verification.domain import links
from verification.domain.documents import Refusal, check, safe_filename
from verification.domain.reference import ALPHABET, find_references, new_reference


@pytest.mark.parametrize(
    ("content", "kind"),
    [(blank_pdf(), "application/pdf"), (image("JPEG"), "image/jpeg"), (image("PNG"), "image/png")],
)
def test_documents_are_recognised_by_their_bytes(content: bytes, kind: str) -> None:
    assert check("whatever.bin", content, 100_000) == kind


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (with_document_javascript(), "the PDF holds active content (JavaScript)"),
        (image("JPEG") + zip_of(), "bytes follow the end of the image"),
        (png_bomb(10_000, 10_000), "over the limit of 50000000 pixels (50 megapixels)"),
        (b"%PDF-1.4 ...", "the file cannot be read"),
    ],
    ids=["pdf-javascript", "jpeg-zip-polyglot", "png-bomb", "pdf-header-only"],
)
def test_documents_that_only_look_right_are_refused_saying_why(content: bytes, reason: str) -> None:
    refusal = check("cni.pdf", content, 100_000)

    assert isinstance(refusal, Refusal)
    assert refusal.reason.startswith("cni.pdf: ")
    assert reason in refusal.reason


@pytest.mark.parametrize("content", [b"GIF89a...", b"PK\x03\x04docx", b"<html>", b" %PDF-1.4"])
def test_other_files_are_refused_whatever_their_name(content: bytes) -> None:
    assert check("passeport.pdf", content, 1000) == Refusal(
        "passeport.pdf: only PDF, JPEG and PNG files are accepted"
    )


def test_a_document_over_the_limit_is_refused_with_the_limit() -> None:
    refusal = check("scan.pdf", b"%PDF-" + bytes(2_000_000), 2_000_000)

    assert refusal == Refusal(
        "scan.pdf: 2000005 bytes is over the limit of 2000000 bytes (2.0 MB) per document"
    )


def test_an_empty_file_is_refused() -> None:
    assert check("vide.pdf", b"", 1000) == Refusal("vide.pdf: the file is empty")


def test_a_served_name_has_no_path_and_the_true_extension() -> None:
    assert safe_filename("../../etc/passwd.pdf", "image/png") == "passwd.png"
    assert safe_filename('a"b<script>.jpg', "image/jpeg") == "a_b_script_.jpg"
    assert safe_filename("...", "application/pdf") == "document.pdf"


def test_references_come_from_an_alphabet_without_look_alikes() -> None:
    references = {new_reference() for _ in range(500)}

    assert len(references) == 500
    assert all(r.startswith("LRE-") and len(r) == 10 and set(r[4:]) <= set(ALPHABET) for r in references)
    assert not set("01ILOUV") & set(ALPHABET)


def test_references_are_found_in_free_text_however_written() -> None:
    text = "Re: dossier lre-7k3m9q et LRE 7K3M9Q, voir aussi LRE-ABCDEF; pas LRE-ABCDEFG ni LRE-O0O0O0"

    assert find_references(text) == ["LRE-7K3M9Q", "LRE-ABCDEF"]


def test_a_document_link_is_valid_until_it_expires_and_only_unaltered() -> None:
    key, document = b"k" * 32, uuid.uuid4()
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    token = links.sign(key, document, now + timedelta(minutes=2))

    assert links.verify(key, token, now) == document
    assert links.verify(key, token, now + timedelta(minutes=2)) is None
    assert links.verify(b"x" * 32, token, now) is None
    for position in range(len(token)):  # every character altered, the unused bits of the last included
        altered = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
        assert links.verify(key, altered, now) is None
    assert links.verify(key, "not a token!", now) is None


def test_sealed_documents_are_not_the_plaintext_and_are_bound_to_their_key() -> None:
    sealer = Sealer("s" * 40)
    plaintext = b"%PDF-1.7 carte d'identite"

    sealed, again = sealer.seal("documents/a", plaintext), sealer.seal("documents/a", plaintext)

    assert plaintext not in sealed and sealed != again  # a fresh nonce each time
    assert sealer.open("documents/a", sealed) == plaintext
    with pytest.raises(InvalidTag):
        sealer.open("documents/b", sealed)  # moved under another object key
    with pytest.raises(InvalidTag):
        Sealer("t" * 40).open("documents/a", sealed)
