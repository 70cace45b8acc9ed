"""The recipient's language at deposit: French unless the sender says English; anything else
is refused by field; `LetterDeposited` carries it; and a deposit that does not name one keeps
the fingerprint it had before languages existed (idempotency keys stay good)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from archive.domain.submission import Limits, accepted_parties, check_submission, submission_fingerprint
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import Document, SubmitLetter

LIMITS = Limits()
PDF = demo_pdf()


def a_submission(**recipient: Any) -> SubmitLetter:
    return SubmitLetter.model_validate(
        {
            "correlation_id": uuid4(),
            "sender": DEMO_SENDER,
            "recipient": {**DEMO_RECIPIENT.model_dump(exclude={"language"}), **recipient},
            "main_document": Document(filename="lettre.pdf", content=PDF),
        }
    )


def test_a_recipient_without_a_language_reads_french() -> None:
    command = a_submission()

    assert check_submission(command, limits=LIMITS, senders=None) == []
    assert accepted_parties(command)[1].language == "fr"


@pytest.mark.parametrize("given", ["en", " EN ", "En"])
def test_english_is_taken_and_kept_as_en(given: str) -> None:
    command = a_submission(language=given)

    assert check_submission(command, limits=LIMITS, senders=None) == []
    assert accepted_parties(command)[1].language == "en"


@pytest.mark.parametrize("given", ["de", "english", ""])
def test_another_language_is_refused_on_its_field(given: str) -> None:
    problems = check_submission(a_submission(language=given), limits=LIMITS, senders=None)

    assert [p.field for p in problems] == ["recipient.language"]
    assert "fr or en" in problems[0].reason


def test_the_fingerprint_of_a_french_deposit_is_what_it_was_before_languages() -> None:
    unnamed, french, english = a_submission(), a_submission(language="fr"), a_submission(language="en")

    assert submission_fingerprint(unnamed) == submission_fingerprint(french)
    assert submission_fingerprint(english) != submission_fingerprint(french)
