"""The consent registry is evidence too (CPCE L.100): each consent and each withdrawal the
archive records is sealed, chained per sender and address, under a platform event URI."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

from lre_shared.contracts import ConsentRecorded, ConsentWithdrawn, Message
from services.signer.tests.unit.fakes import CountingSealer, InMemoryUnitOfWork
from signer.domain.evidence import PLATFORM_EVENT_URI_BASE, EvidenceEvent, SealAssurance
from signer.service_layer import consent_evidence, handlers

RECORDED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TEXT = "J'accepte de recevoir des lettres recommandées électroniques."
SUBJECT = uuid.uuid4()


def recorded(consent_id: uuid.UUID) -> ConsentRecorded:
    return ConsentRecorded(
        correlation_id=SUBJECT,
        consent_id=consent_id,
        sender_id="demo-sender",
        email="Camille@Exemple.example",
        email_key="camille@exemple.example",
        given_at=RECORDED_AT - timedelta(days=1),
        channel="web_form",
        text=TEXT,
        text_sha256=hashlib.sha256(TEXT.encode()).hexdigest(),
        reference="form-117",
        recorded_at=RECORDED_AT,
    )


def withdrawn(consent_id: uuid.UUID) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        correlation_id=SUBJECT,
        consent_id=consent_id,
        sender_id="demo-sender",
        email_key="camille@exemple.example",
        withdrawn_at=RECORDED_AT + timedelta(days=2),
        channel="email",
        recorded_at=RECORDED_AT + timedelta(days=2, minutes=1),
    )


def record(uow: InMemoryUnitOfWork, *events: Message) -> None:
    for event in events:
        asyncio.run(
            handlers.record_event(
                event,
                uow,
                recording=consent_evidence.RECORDINGS[type(event)],
                policy_id="urn:lre:policy:test",
                sealer=CountingSealer(SealAssurance(sealed=True)),
                proofs=True,
            )
        )


def test_a_consent_and_its_withdrawal_are_sealed_in_one_chain_with_platform_uris() -> None:
    uow, consent_id = InMemoryUnitOfWork(), uuid.uuid4()

    record(uow, recorded(consent_id), withdrawn(consent_id))

    chain = uow.evidence.of(SUBJECT)
    assert [r.event for r in chain] == [EvidenceEvent.consent_recorded, EvidenceEvent.consent_withdrawn]
    assert chain[1].previous_sha256 == chain[0].record_sha256
    assert all(r.seal == b"seal of " + r.body for r in chain)
    given, taken_back = (json.loads(r.body) for r in chain)
    assert given["event_uri"] == PLATFORM_EVENT_URI_BASE + "ConsentRecorded"
    assert not given["event_uri"].startswith("http://uri.etsi.org/")
    assert given["item_number"] is None
    assert given["details"]["text"] == TEXT
    assert given["details"]["text_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert taken_back["details"]["withdrawn_at"] == (RECORDED_AT + timedelta(days=2)).isoformat()


def test_consent_records_issue_no_letter_proof() -> None:
    uow = InMemoryUnitOfWork()

    record(uow, recorded(uuid.uuid4()))

    assert not [m for m in uow.published if m.routing_key == "proof.issued.v1"]
    assert uow.proof_jobs.waiting == {}
