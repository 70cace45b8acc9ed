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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
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


def _json(model: Any) -> Any:
    return json.loads(model.model_dump_json())


@dataclass(frozen=True)
class Recording:
    """What the evidence record of one kind of message says, and which proof it issues."""

    event: EvidenceEvent
    time: Callable[[Any], datetime]
    item_number: Callable[[Any], str | None]
    details: Callable[[Any], dict[str, Any]]
    proof: ProofKind | None = None


def _item_number(message: Any) -> str | None:
    return cast(str | None, message.item_number)


# One entry per event of a letter's life, named after ETSI EN 319 522-2.
RECORDINGS: dict[type[Message], Recording] = {
    LetterDeposited: Recording(
        EvidenceEvent.submission_acceptance,
        time=lambda e: e.deposited_at,
        item_number=_item_number,
        details=lambda e: {
            "sender": _json(e.sender),
            "recipient": _json(e.recipient),
            "documents": [_json(d) for d in e.documents],
        },
        proof=ProofKind.deposit,  # CPCE R.53-2: preuve de dépôt
    ),
    # SubmissionRejection: the refused deposit has no item number; the record keeps who
    # tried and every reason, by field.
    LetterRejected: Recording(
        EvidenceEvent.submission_rejection,
        time=lambda e: e.occurred_at,
        item_number=lambda e: None,
        details=lambda e: {"sender_id": e.sender_id, "problems": [_json(p) for p in e.problems]},
    ),
    NoticeSent: Recording(
        EvidenceEvent.notification_for_acceptance,
        time=lambda e: e.sent_at,
        item_number=_item_number,
        details=lambda e: {
            "channel": e.channel.value,
            "address": e.address,
            "provider_message_id": e.provider_message_id,
        },
    ),
    NoticeFailed: Recording(
        EvidenceEvent.notification_for_acceptance_failure,
        time=lambda e: e.occurred_at,
        item_number=_item_number,
        details=lambda e: {"channel": e.channel.value, "address": e.address, "reason": e.reason},
    ),
    LetterAccepted: Recording(
        EvidenceEvent.consignment_acceptance,
        time=lambda e: e.accepted_at,
        item_number=_item_number,
        details=lambda e: {},
        proof=ProofKind.receipt,  # CPCE R.53-3: preuve de réception
    ),
    LetterRefused: Recording(
        EvidenceEvent.consignment_rejection,
        time=lambda e: e.refused_at,
        item_number=_item_number,
        details=lambda e: {"reason": "refused by the recipient"},
        proof=ProofKind.refusal,  # CPCE R.53-3: preuve de refus
    ),
    # ContentHandover: the recipient's first download.
    ContentHandedOver: Recording(
        EvidenceEvent.content_handover,
        time=lambda e: e.handed_over_at,
        item_number=_item_number,
        details=lambda e: {"document_id": str(e.document_id)},
    ),
    # ContentHandoverFailure: the download window closed with no download.
    ContentHandoverFailed: Recording(
        EvidenceEvent.content_handover_failure,
        time=lambda e: e.window_closed_at,
        item_number=_item_number,
        details=lambda e: {"reason": "the download window closed with no download; the content was deleted"},
    ),
}


async def record_event(
    event: Message,
    tx: Transaction,
    *,
    recording: Recording,
    policy_id: str,
    sealer: EvidenceSealer,
    proofs: ProofSealer | None = None,
) -> None:
    """The sealed evidence record of `event`, and its proof where the event has one."""
    evidence = await record_evidence(
        tx,
        source=event,
        event=recording.event,
        event_time=recording.time(event),
        item_number=recording.item_number(event),
        details=recording.details(event),
        policy_id=policy_id,
        sealer=sealer,
    )
    if recording.proof is not None:
        await issue_proof(
            tx,
            kind=recording.proof,
            letter_id=event.correlation_id,
            evidence=evidence,
            policy_id=policy_id,
            proofs=proofs,
            assurance=sealer.assurance,
        )
