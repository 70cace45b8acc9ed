"""Signer use cases: one sealed evidence record per event of a letter's life.

Events are named after ETSI EN 319 522-2 (SubmissionAcceptance, NotificationForAcceptance,
...); the record is sealed (CAdES + RFC 3161 timestamp) inside the transaction that
stores it, so a record is never stored unsealed when a seal key is configured: a TSA that
does not answer makes the message retry, not an unsealed record.

Deposit, acceptance and refusal also issue their human proof (CPCE R.53-2: preuve de dépôt;
R.53-3: preuves de réception et de refus), sealed PAdES in the same transaction, when
proofs are configured: the record and its proof are stored together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from lre_shared.bus import Transaction
from lre_shared.messages import (
    ContentHandedOver,
    ContentHandoverFailed,
    EvidenceRecorded,
    LetterAccepted,
    LetterDeposited,
    LetterRefused,
    LetterRejected,
    Message,
    NoticeFailed,
    NoticeSent,
)
from signer.domain.evidence import EvidenceEvent, SealAssurance, build_record
from signer.domain.proofs import EvidenceFact, ProofKind, deposit_facts, proof
from signer.service_layer.ports import EvidenceSealer, ProofSealer

log = logging.getLogger(__name__)


async def record_evidence(
    tx: Transaction,
    *,
    source: Message,
    event: EvidenceEvent,
    event_time: datetime,
    item_number: str | None,
    details: dict[str, Any],
    policy_id: str,
    sealer: EvidenceSealer,
) -> EvidenceFact:
    letter_id = source.correlation_id
    # One chain per letter: serialise its writers for the length of this transaction.
    await tx.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", str(letter_id))
    previous = await tx.conn.fetchrow(
        "SELECT seq, record_sha256 FROM evidence WHERE letter_id = $1 ORDER BY seq DESC LIMIT 1",
        letter_id,
    )
    seq = 1 if previous is None else previous["seq"] + 1
    previous_sha = None if previous is None else previous["record_sha256"]
    evidence_id = uuid4()
    body, digest = build_record(
        evidence_id=evidence_id,
        event=event,
        event_time=event_time,
        letter_id=letter_id,
        item_number=item_number,
        details=details,
        policy_id=policy_id,
        seq=seq,
        previous_sha256=previous_sha,
        seal=sealer.assurance,
    )
    seal = await sealer.seal(body)
    await tx.conn.execute(
        "INSERT INTO evidence (evidence_id, letter_id, seq, event, event_time, source_message_id,"
        " record, record_sha256, previous_sha256, seal, seal_label)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        evidence_id,
        letter_id,
        seq,
        event.value,
        event_time,
        source.message_id,
        body,
        digest,
        previous_sha,
        seal,
        sealer.assurance.label,
    )
    await tx.publish(
        EvidenceRecorded(
            correlation_id=letter_id,
            evidence_id=evidence_id,
            event=event.value,
            event_time=event_time,
            record_sha256=digest,
            previous_sha256=previous_sha,
        )
    )
    return EvidenceFact(event, event_time, str(evidence_id), digest)


async def issue_proof(
    tx: Transaction,
    *,
    kind: ProofKind,
    letter_id: UUID,
    evidence: EvidenceFact,
    policy_id: str,
    proofs: ProofSealer | None,
    assurance: SealAssurance,
) -> None:
    """The event's proof PDF, from the letter's deposit record, sealed and stored."""
    if proofs is None:
        return
    deposit = await tx.conn.fetchval(
        "SELECT record FROM evidence WHERE letter_id = $1 AND event = $2 ORDER BY seq LIMIT 1",
        letter_id,
        EvidenceEvent.submission_acceptance.value,
    )
    if deposit is None:
        log.warning(
            "no %s proof: no deposit on record for this letter",
            kind.value,
            extra={"letter_id": str(letter_id)},
        )
        return
    content = proof(kind, deposit_facts(json.loads(bytes(deposit)), policy_id=policy_id), evidence, assurance)
    pdf = await proofs.seal_proof(content)
    await tx.conn.execute(
        "INSERT INTO proofs (letter_id, kind, evidence_id, filename, pdf, sha256)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (letter_id, kind) DO NOTHING",
        letter_id,
        kind.value,
        UUID(evidence.evidence_id),
        content.filename,
        pdf,
        hashlib.sha256(pdf).hexdigest(),
    )


async def on_letter_deposited(
    event: LetterDeposited,
    tx: Transaction,
    *,
    policy_id: str,
    sealer: EvidenceSealer,
    proofs: ProofSealer | None = None,
) -> None:
    evidence = await record_evidence(
        tx,
        source=event,
        event=EvidenceEvent.submission_acceptance,
        event_time=event.deposited_at,
        item_number=event.item_number,
        details={
            "sender": json.loads(event.sender.model_dump_json()),
            "recipient": json.loads(event.recipient.model_dump_json()),
            "documents": [json.loads(d.model_dump_json()) for d in event.documents],
        },
        policy_id=policy_id,
        sealer=sealer,
    )
    await issue_proof(
        tx,
        kind=ProofKind.deposit,
        letter_id=event.correlation_id,
        evidence=evidence,
        policy_id=policy_id,
        proofs=proofs,
        assurance=sealer.assurance,
    )


async def on_letter_rejected(
    event: LetterRejected, tx: Transaction, *, policy_id: str, sealer: EvidenceSealer
) -> None:
    # ETSI EN 319 522 SubmissionRejection: the refused deposit has no item number; the
    # record keeps who tried and every reason, by field.
    await record_evidence(
        tx,
        source=event,
        event=EvidenceEvent.submission_rejection,
        event_time=event.occurred_at,
        item_number=None,
        details={
            "sender_id": event.sender_id,
            "problems": [json.loads(p.model_dump_json()) for p in event.problems],
        },
        policy_id=policy_id,
        sealer=sealer,
    )


async def on_notice_sent(
    event: NoticeSent, tx: Transaction, *, policy_id: str, sealer: EvidenceSealer
) -> None:
    await record_evidence(
        tx,
        source=event,
        event=EvidenceEvent.notification_for_acceptance,
        event_time=event.sent_at,
        item_number=event.item_number,
        details={
            "channel": event.channel.value,
            "address": event.address,
            "provider_message_id": event.provider_message_id,
        },
        policy_id=policy_id,
        sealer=sealer,
    )


async def on_notice_failed(
    event: NoticeFailed, tx: Transaction, *, policy_id: str, sealer: EvidenceSealer
) -> None:
    await record_evidence(
        tx,
        source=event,
        event=EvidenceEvent.notification_for_acceptance_failure,
        event_time=event.occurred_at,
        item_number=event.item_number,
        details={"channel": event.channel.value, "address": event.address, "reason": event.reason},
        policy_id=policy_id,
        sealer=sealer,
    )


async def on_letter_accepted(
    event: LetterAccepted,
    tx: Transaction,
    *,
    policy_id: str,
    sealer: EvidenceSealer,
    proofs: ProofSealer | None = None,
) -> None:
    evidence = await record_evidence(
        tx,
        source=event,
        event=EvidenceEvent.consignment_acceptance,
        event_time=event.accepted_at,
        item_number=event.item_number,
        details={},
        policy_id=policy_id,
        sealer=sealer,
    )
    await issue_proof(
        tx,
        kind=ProofKind.receipt,
        letter_id=event.correlation_id,
        evidence=evidence,
        policy_id=policy_id,
        proofs=proofs,
        assurance=sealer.assurance,
    )


async def on_letter_refused(
    event: LetterRefused,
    tx: Transaction,
    *,
    policy_id: str,
    sealer: EvidenceSealer,
    proofs: ProofSealer | None = None,
) -> None:
    evidence = await record_evidence(
        tx,
        source=event,
        event=EvidenceEvent.consignment_rejection,
        event_time=event.refused_at,
        item_number=event.item_number,
        details={"reason": "refused by the recipient"},
        policy_id=policy_id,
        sealer=sealer,
    )
    await issue_proof(
        tx,
        kind=ProofKind.refusal,
        letter_id=event.correlation_id,
        evidence=evidence,
        policy_id=policy_id,
        proofs=proofs,
        assurance=sealer.assurance,
    )


async def on_content_handed_over(
    event: ContentHandedOver, tx: Transaction, *, policy_id: str, sealer: EvidenceSealer
) -> None:
    # ETSI EN 319 522 ContentHandover: the recipient's first download.
    await record_evidence(
        tx,
        source=event,
        event=EvidenceEvent.content_handover,
        event_time=event.handed_over_at,
        item_number=event.item_number,
        details={"document_id": str(event.document_id)},
        policy_id=policy_id,
        sealer=sealer,
    )


async def on_content_handover_failed(
    event: ContentHandoverFailed, tx: Transaction, *, policy_id: str, sealer: EvidenceSealer
) -> None:
    # ETSI EN 319 522 ContentHandoverFailure: the download window closed with no download.
    await record_evidence(
        tx,
        source=event,
        event=EvidenceEvent.content_handover_failure,
        event_time=event.window_closed_at,
        item_number=event.item_number,
        details={"reason": "the download window closed with no download; the content was deleted"},
        policy_id=policy_id,
        sealer=sealer,
    )
