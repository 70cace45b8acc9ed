"""A recipient's identification through an identity provider (CPCE R.53-1) is sealed in the
letter's chain under a platform event URI, minimised: names, a hash of the birth date, the
level, the outcome."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

from lre_shared.contracts import IdentificationOutcome, IdentifiedClaims, RecipientIdentified
from services.signer.tests.unit.fakes import CountingSealer, InMemoryUnitOfWork
from signer.domain.evidence import PLATFORM_EVENT_URI_BASE, EvidenceEvent, SealAssurance
from signer.domain.proofs import EVENT_LABELS
from signer.service_layer import handlers, identity_evidence

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def identified(letter_id: uuid.UUID, outcome: IdentificationOutcome) -> RecipientIdentified:
    return RecipientIdentified(
        correlation_id=letter_id,
        item_number="123456789012",
        identified_at=AT,
        issuer="https://idp.example",
        subject="fc-camille",
        acr="eidas2",
        auth_time=AT - timedelta(minutes=1),
        claims=IdentifiedClaims(
            family_name="MARTIN",
            given_name="Camille Marie",
            birthdate_sha256=hashlib.sha256(b"1990-04-12").hexdigest(),
        ),
        outcome=outcome,
        purpose="signature",
    )


def test_the_identification_is_sealed_in_the_letters_chain_with_what_the_provider_said() -> None:
    uow, letter_id = InMemoryUnitOfWork(), uuid.uuid4()
    for outcome in (IdentificationOutcome.insufficient_level, IdentificationOutcome.matched):
        event = identified(letter_id, outcome)
        asyncio.run(
            handlers.record_event(
                event,
                uow,
                recording=identity_evidence.RECORDINGS[RecipientIdentified],
                policy_id="urn:lre:policy:test",
                sealer=CountingSealer(SealAssurance(sealed=True)),
            )
        )
    chain = uow.evidence.of(letter_id)
    assert [r.event for r in chain] == [EvidenceEvent.recipient_identified] * 2
    assert chain[1].previous_sha256 == chain[0].record_sha256
    refused, matched = (json.loads(r.body) for r in chain)
    assert matched["event_uri"] == PLATFORM_EVENT_URI_BASE + "RecipientIdentified"
    assert matched["item_number"] == "123456789012"
    details = matched["details"]
    assert details["outcome"] == "matched" and refused["details"]["outcome"] == "insufficient_level"
    assert (details["issuer"], details["subject"], details["acr"]) == (
        "https://idp.example",
        "fc-camille",
        "eidas2",
    )
    assert details["auth_time"] == (AT - timedelta(minutes=1)).isoformat()
    assert details["claims"]["family_name"] == "MARTIN"
    # The birth date itself is never kept, only its hash.
    assert "1990-04-12" not in chain[1].body.decode()
    assert details["claims"]["birthdate_sha256"] == hashlib.sha256(b"1990-04-12").hexdigest()
    assert EvidenceEvent.recipient_identified in EVENT_LABELS
