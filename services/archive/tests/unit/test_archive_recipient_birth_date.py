"""The recipient's birth date at deposit (optional; CPCE R.53-1: the pickup site compares it
with the identity provider's): `LetterDeposited` carries it, and a deposit that does not give
one keeps the fingerprint it had before birth dates existed (idempotency keys stay good)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from archive.domain.submission import Limits, accepted_parties, check_submission, submission_fingerprint
from deploy.local.demo import demo_pdf
from lre_shared.contracts import Document, SubmitLetter

# The fingerprint `a_submission()` had before recipients could declare a birth date.
FINGERPRINT_BEFORE_BIRTH_DATES = "ed51d862028007e2dd30feffab759a7fca918516b71fe09ef9d01985e089f09c"


def a_submission(content: bytes = b"%PDF-1.7 body", **recipient: Any) -> SubmitLetter:
    return SubmitLetter.model_validate(
        {
            "correlation_id": UUID(int=1),
            "sender": {"id": "cabinet-exemple", "name": "Cabinet Exemple", "email": "greffe@cabinet.example"},
            "recipient": {
                "last_name": "Martin",
                "first_name": "Camille",
                "address": "12 avenue de l'Opéra",
                "postcode": "75001",
                "city": "Paris",
                "email": "camille@exemple.example",
                **recipient,
            },
            "main_document": Document(filename="lettre.pdf", content=content),
        }
    )


def test_a_declared_birth_date_is_carried_to_the_deposited_letter() -> None:
    command = a_submission(demo_pdf(), birth_date="1990-04-12")

    assert check_submission(command, limits=Limits(), senders=None) == []
    assert accepted_parties(command)[1].birth_date == date(1990, 4, 12)
    assert accepted_parties(a_submission())[1].birth_date is None


def test_the_fingerprint_without_a_birth_date_is_what_it_was_before_birth_dates() -> None:
    assert submission_fingerprint(a_submission()) == FINGERPRINT_BEFORE_BIRTH_DATES
    assert submission_fingerprint(a_submission(birth_date=None)) == FINGERPRINT_BEFORE_BIRTH_DATES
    assert submission_fingerprint(a_submission(birth_date="1990-04-12")) != FINGERPRINT_BEFORE_BIRTH_DATES
