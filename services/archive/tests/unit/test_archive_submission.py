"""The rules of a deposit: every problem of a SubmitLetter, by field, in one list."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from archive.domain.submission import (
    Limits,
    accepted_parties,
    check_submission,
    submission_fingerprint,
)
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import (
    Document,
    NoticeChannel,
    Problem,
    SubmitLetter,
    SubmittedRecipient,
    SubmittedSender,
)
from tests.support.documents import encrypted

LIMITS = Limits(document_bytes=100_000, letter_bytes=150_000, embedded_bytes=60_000, attachments=2)


def a_submission(**changes: Any) -> SubmitLetter:
    fields: dict[str, Any] = {
        "correlation_id": uuid4(),
        "sender": DEMO_SENDER,
        "recipient": DEMO_RECIPIENT,
        "main_document": Document(filename="lettre.pdf", content=demo_pdf()),
    }
    fields.update(changes)
    return SubmitLetter.model_validate(fields)


def sender(**changes: Any) -> SubmittedSender:
    return SubmittedSender.model_validate({**DEMO_SENDER.model_dump(), **changes})


def recipient(**changes: Any) -> SubmittedRecipient:
    return SubmittedRecipient.model_validate({**DEMO_RECIPIENT.model_dump(), **changes})


def problems(command: SubmitLetter, senders: frozenset[str] | None = None) -> list[Problem]:
    return check_submission(command, limits=LIMITS, senders=senders)


def fields(command: SubmitLetter, senders: frozenset[str] | None = None) -> list[str]:
    return [p.field for p in problems(command, senders)]


def padded_pdf(size: int) -> bytes:
    pdf = demo_pdf()
    return pdf + b"%" + b"x" * (size - len(pdf) - 2) + b"\n"


def test_the_demo_letter_has_no_problem() -> None:
    assert problems(a_submission()) == []


# --------------------------------------------------------------------------- sender


def test_any_sender_is_accepted_without_an_allow_list() -> None:
    assert fields(a_submission(sender=sender(id="anyone"))) == []


def test_a_sender_outside_the_allow_list_is_unknown() -> None:
    [problem] = problems(a_submission(), senders=frozenset({"acme"}))

    assert problem.field == "sender.id"
    assert "unknown sender 'demo-sender'" in problem.reason


def test_a_sender_in_the_allow_list_is_accepted() -> None:
    assert fields(a_submission(), senders=frozenset({DEMO_SENDER.id})) == []


def test_a_sender_needs_an_id_and_a_name_or_company() -> None:
    assert fields(a_submission(sender=sender(id=" ", name="", company=None))) == ["sender.id", "sender.name"]


def test_a_company_alone_names_the_sender() -> None:
    command = a_submission(sender=sender(name="", company="ACME SAS"))

    assert problems(command) == []
    assert accepted_parties(command)[0].name == "ACME SAS"


def test_a_malformed_sender_email_is_refused() -> None:
    [problem] = problems(a_submission(sender=sender(email="greffe-at-cabinet")))

    assert problem.field == "sender.email"
    assert "'greffe-at-cabinet' is not a valid email address" in problem.reason


@pytest.mark.parametrize("siret", ["73282932000074", "732 829 320 00074", "35600000000048", "35600000049837"])
def test_a_valid_siret_is_accepted_and_kept_without_spaces(siret: str) -> None:
    command = a_submission(sender=sender(siret=siret))

    assert problems(command) == []
    assert accepted_parties(command)[0].siret == siret.replace(" ", "")


@pytest.mark.parametrize(
    "siret",
    [
        "73282932000075",
        "7328293200007",
        "732829320000740",
        "7328293200007A",
        "35600000012345",
        "00000000000000",
    ],
)
def test_a_siret_failing_its_check_is_refused(siret: str) -> None:
    [problem] = problems(a_submission(sender=sender(siret=siret)))

    assert problem.field == "sender.siret"
    assert "not a valid SIRET" in problem.reason


def test_siret_check_digit_follows_luhn_and_la_postes_exception() -> None:
    # One rule for every service: `lre_shared.siret` (its own tests hold the cases).
    assert problems(a_submission(sender=sender(siret="44306184100047"))) == []
    assert problems(a_submission(sender=sender(siret="44306184100048")))


# ------------------------------------------------------------------------ recipient


def test_missing_recipient_names_and_email_are_each_named() -> None:
    command = a_submission(recipient=recipient(last_name="", first_name=" ", email=""))

    assert fields(command) == ["recipient.last_name", "recipient.first_name", "recipient.email"]


def test_a_recipient_missing_from_the_json_is_refused_field_by_field() -> None:
    payload = a_submission().model_dump(mode="json")
    payload["recipient"] = {"email": "camille@exemple.example"}

    command = SubmitLetter.model_validate(payload)

    assert fields(command) == [
        "recipient.last_name",
        "recipient.first_name",
        "recipient.address",
        "recipient.postcode",
        "recipient.city",
    ]


def test_a_malformed_recipient_email_is_refused() -> None:
    [problem] = problems(a_submission(recipient=recipient(email="camille@")))

    assert problem.field == "recipient.email"


@pytest.mark.parametrize("name", ["mobile", "fax", "landline"])
@pytest.mark.parametrize("number", ["0612345678", "+0612345678", "+33 6 12 34 56 78 99 99 99", "+33-6-12"])
def test_a_phone_number_not_in_e164_is_refused(name: str, number: str) -> None:
    [problem] = problems(a_submission(recipient=recipient(**{name: number})))

    assert problem.field == f"recipient.{name}"
    assert "E.164" in problem.reason


def test_phone_numbers_in_e164_are_kept_without_spaces() -> None:
    command = a_submission(recipient=recipient(mobile="+33 6 12 34 56 78", landline="+33142000000"))

    assert problems(command) == []
    accepted = accepted_parties(command)[1]
    assert (accepted.mobile, accepted.landline, accepted.fax) == ("+33612345678", "+33142000000", None)


def test_a_french_postcode_has_five_digits() -> None:
    assert fields(a_submission(recipient=recipient(postcode="7500"))) == ["recipient.postcode"]
    assert fields(a_submission(recipient=recipient(postcode="SW1A 1AA", country="GB"))) == []


def test_a_country_is_an_iso_code() -> None:
    assert fields(a_submission(recipient=recipient(country="France"))) == ["recipient.country"]


def test_address_lines_are_limited_to_four() -> None:
    command = a_submission(
        recipient=recipient(address_lines=("Bât. A", "2e étage", "BP 12", "Lieu-dit", "X"))
    )

    assert fields(command) == ["recipient.address_lines"]


# --------------------------------------------------------------- channels, signature


@pytest.mark.parametrize(
    ("channel", "number_field"),
    [(NoticeChannel.sms, "mobile"), (NoticeChannel.voice, "landline"), (NoticeChannel.fax, "fax")],
)
def test_an_alert_channel_needs_its_number(channel: NoticeChannel, number_field: str) -> None:
    [problem] = problems(a_submission(alert_channels=(channel,)))
    assert problem.field == "alert_channels"
    assert f"recipient.{number_field}" in problem.reason

    with_number = a_submission(
        alert_channels=(channel,), recipient=recipient(**{number_field: "+33612345678"})
    )
    assert problems(with_number) == []


def test_at_least_one_signature_method_is_allowed() -> None:
    assert fields(a_submission(signature_methods=())) == ["signature_methods"]


# ------------------------------------------------------------------------ documents


def test_an_attachment_that_is_not_a_pdf_is_named_by_position() -> None:
    command = a_submission(
        attachments=(
            Document(filename="a.pdf", content=demo_pdf("a")),
            Document(filename="b.pdf", content=b"PK\x03\x04 zip"),
        )
    )

    [problem] = problems(command)
    assert problem.field == "attachments[1].content"
    assert "not a PDF" in problem.reason


def test_an_encrypted_main_document_is_refused() -> None:
    [problem] = problems(
        a_submission(main_document=Document(filename="l.pdf", content=encrypted(demo_pdf())))
    )

    assert problem.field == "main_document.content"
    assert "encrypted" in problem.reason


def test_too_many_attachments_are_refused_stating_the_limit() -> None:
    attachments = tuple(Document(filename=f"a{i}.pdf", content=demo_pdf(str(i))) for i in range(3))

    [problem] = problems(a_submission(attachments=attachments))

    assert problem.field == "attachments"
    assert "the limit is 2" in problem.reason


def test_a_document_over_the_per_document_limit_is_refused() -> None:
    [problem] = problems(a_submission(main_document=Document(filename="l.pdf", content=padded_pdf(100_001))))

    assert problem.field == "main_document.content"
    assert "the limit is 100000 bytes" in problem.reason


def test_an_embedded_document_over_the_embedded_limit_is_refused() -> None:
    [problem] = problems(a_submission(main_document=Document(filename="l.pdf", content=padded_pdf(60_001))))

    assert problem.field == "main_document.content"
    assert "limited to 60000 bytes" in problem.reason


def test_a_letter_over_the_per_letter_limit_is_refused() -> None:
    big = padded_pdf(55_000)
    command = a_submission(
        main_document=Document(filename="l.pdf", content=big),
        attachments=(Document(filename="a.pdf", content=big), Document(filename="b.pdf", content=big)),
    )

    [problem] = problems(command)
    assert problem.field == "documents"
    assert "the limit is 150000 bytes" in problem.reason


def test_two_documents_with_the_same_name_are_refused() -> None:
    command = a_submission(attachments=(Document(filename="LETTRE.pdf", content=demo_pdf("x")),))

    assert fields(command) == ["attachments[0].filename"]


def test_a_filename_that_is_a_path_is_refused() -> None:
    command = a_submission(main_document=Document(filename="../etc/lettre.pdf", content=demo_pdf()))

    assert fields(command) == ["main_document.filename"]


def test_every_problem_is_listed_at_once() -> None:
    command = a_submission(
        sender=sender(email="nope"),
        recipient=recipient(email="", mobile="0612"),
        main_document=Document(filename="l.pdf", content=b"not a pdf"),
    )

    assert fields(command, senders=frozenset({"acme"})) == [
        "sender.id",
        "sender.email",
        "recipient.email",
        "recipient.mobile",
        "main_document.content",
    ]


# ---------------------------------------------------------------------- fingerprint


def test_a_retry_built_afresh_has_the_same_fingerprint() -> None:
    first = a_submission(idempotency_key="k")
    retry = a_submission(idempotency_key="k")

    assert first.correlation_id != retry.correlation_id
    assert submission_fingerprint(first) == submission_fingerprint(retry)


@pytest.mark.parametrize(
    "change",
    [
        {"main_document": Document(filename="lettre.pdf", content=demo_pdf("autre"))},
        {"main_document": Document(filename="autre.pdf", content=demo_pdf())},
        {"recipient": recipient(city="Lyon")},
        {"verification_policy": "cnb"},
        {"attachments": (Document(filename="a.pdf", content=demo_pdf("a")),)},
    ],
    ids=["content", "filename", "recipient", "policy", "attachment"],
)
def test_other_content_has_another_fingerprint(change: dict[str, Any]) -> None:
    assert submission_fingerprint(a_submission()) != submission_fingerprint(a_submission(**change))
