"""The signer lists a letter's evidence only to whoever acts for the letter's sender, as its
deposit record names it (the AMQP `user_id` the broker checked, or a trusted platform user):
to anyone else, as for an unknown letter, nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from lre_shared.bus import published_by
from lre_shared.contracts import (
    EvidenceListed,
    LetterDeposited,
    LetterRejected,
    ListEvidence,
    Problem,
    StoredDocument,
)
from lre_shared.contracts.base import now_utc
from services.signer.tests.unit.fakes import CountingSealer, InMemoryUnitOfWork
from signer.domain.evidence import letter_sender
from signer.service_layer import handlers

TRUSTED = ("lre-operator",)
SENDER = DEMO_SENDER.id


def deposited() -> LetterDeposited:
    return LetterDeposited(
        correlation_id=uuid.uuid4(),
        item_number="799273987130",
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        documents=(StoredDocument(document_id=uuid.uuid4(), filename="l.pdf", size=12, sha256="b" * 64),),
        verification_policy="default",
        deposited_at=now_utc(),
    )


def recorded(*events: LetterDeposited | LetterRejected) -> InMemoryUnitOfWork:
    uow = InMemoryUnitOfWork()
    for event in events:
        asyncio.run(
            handlers.record_event(
                event,
                uow,
                recording=handlers.RECORDINGS[type(event)],
                policy_id="urn:test:policy",
                sealer=CountingSealer(),
            )
        )
    return uow


def listed(
    uow: InMemoryUnitOfWork, letter_id: uuid.UUID, user: str | None, sender_id: str | None = None
) -> EvidenceListed:
    query = ListEvidence(correlation_id=letter_id, sender_id=sender_id)
    with published_by(user):
        return asyncio.run(handlers.list_evidence(query, uow, trusted=TRUSTED))


def test_the_letters_own_sender_lists_its_evidence() -> None:
    letter = deposited()
    uow = recorded(letter)

    assert [e.event for e in listed(uow, letter.correlation_id, SENDER, SENDER).records] == [
        "SubmissionAcceptance"
    ]
    assert len(listed(uow, letter.correlation_id, SENDER).records) == 1


@pytest.mark.parametrize(
    ("user", "asked_for"), [("globex", SENDER), ("globex", None), ("globex", "globex"), (None, None)]
)
def test_another_sender_lists_nothing_as_for_an_unknown_letter(
    user: str | None, asked_for: str | None
) -> None:
    letter = deposited()
    uow = recorded(letter)

    assert listed(uow, letter.correlation_id, user, asked_for).records == ()


def test_a_trusted_user_lists_any_letters_evidence_but_only_under_its_sender() -> None:
    letter = deposited()
    uow = recorded(letter)

    assert len(listed(uow, letter.correlation_id, "lre-operator").records) == 1
    assert listed(uow, letter.correlation_id, "lre-operator", "globex").records == ()


def test_a_refused_deposits_evidence_goes_to_the_sender_it_was_refused_to() -> None:
    refusal = LetterRejected(
        correlation_id=uuid.uuid4(),
        sender_id="acme",
        problems=(Problem(field="sender.id", reason="not yours"),),
    )
    uow = recorded(refusal)

    assert len(listed(uow, refusal.correlation_id, "acme").records) == 1
    assert listed(uow, refusal.correlation_id, SENDER).records == ()


def test_a_letter_with_no_deposit_on_record_is_listed_to_trusted_users_only() -> None:
    uow = InMemoryUnitOfWork()
    letter_id = uuid.uuid4()

    assert listed(uow, letter_id, SENDER).records == ()
    assert listed(uow, letter_id, "lre-operator").records == ()


def test_the_letters_sender_is_read_from_its_deposit_record() -> None:
    assert letter_sender([{"event": "SubmissionAcceptance", "details": {"sender": {"id": "acme"}}}]) == "acme"
    assert letter_sender([{"event": "SubmissionRejection", "details": {"sender_id": "acme"}}]) == "acme"
    assert letter_sender([{"event": "ConsignmentRejection", "details": {"sender_id": "acme"}}]) is None
    assert letter_sender([]) is None
