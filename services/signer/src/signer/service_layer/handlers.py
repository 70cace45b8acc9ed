"""Signer use cases: one sealed evidence record per event of a letter's life.

Events are named after ETSI EN 319 522-2 (SubmissionAcceptance, NotificationForAcceptance,
...); the record is sealed (CAdES + RFC 3161 timestamp) inside the transaction that
stores it, so a record is never stored unsealed when a seal key is configured: a TSA that
does not answer makes the message retry, not an unsealed record.

Deposit, acceptance, refusal and non-claim also issue their human proof (CPCE R.53-2:
preuve de dépôt; R.53-3: preuves de réception, de refus, de non-réclamation), sealed PAdES
in the same transaction, when proofs are configured: the record and its proof are stored
together or not at all. Each proof is published (`ProofIssued`, through the outbox) as it is
stored: the sender gets it at once.

The envelope `pli_<number>.pdf` (the letter and every record of its life) is issued when the
letter's fate is settled (receipt signed, refused, unclaimed: `FINAL_EVENTS`) and issued
again with each later record (ContentHandover, ContentHandoverFailure, ...): the latest one
replaces the stored one and is published again, and the archive keeps the latest for the
download zip. Before that moment an envelope would only be out of date sooner.

From the same moment (`SETTLING_EVENTS`), each record is stored with the letter's checkpoint,
sealed in the same batch: the chain's length and its last record's SHA-256, so that a bundle
cut short is refused (`domain/checkpoint.py`); the latest replaces the one before.
"""

from __future__ import annotations

import asyncio
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
    EvidenceEntry,
    EvidenceListed,
    EvidenceRecorded,
    LetterAccepted,
    LetterDeposited,
    LetterLockLifted,
    LetterRefused,
    LetterRejected,
    LetterUnclaimed,
    ListEvidence,
    Message,
    NoticeFailed,
    NoticeSent,
    ProofIssued,
    ReceiptSigned,
)
from signer.domain.checkpoint import SETTLING_EVENTS, LetterCheckpoint
from signer.domain.evidence import (
    FINAL_EVENTS,
    EvidenceEvent,
    SealAssurance,
    build_record,
    notice_channel,
    reasons,
)
from signer.domain.proofs import (
    EvidenceFact,
    LetterFacts,
    ProofContent,
    ProofKind,
    deposit_facts,
    envelope,
    proof,
)
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
    checkpoint = await _checkpoint_after(tx, letter_id, event, seq, digest)
    if checkpoint is None:
        seal, checkpoint_seal = await sealer.seal(body), None
    else:
        # Sealed together: one batch, one timestamp, no second round trip to the TSA.
        seal, checkpoint_seal = await asyncio.gather(sealer.seal(body), sealer.seal(checkpoint.statement()))
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
    if checkpoint is not None:
        await tx.conn.execute(
            UPSERT_CHECKPOINT,
            letter_id,
            checkpoint.size,
            checkpoint.last_sha256,
            checkpoint.statement(),
            checkpoint_seal,
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


UPSERT_CHECKPOINT = (
    "INSERT INTO letter_checkpoints (letter_id, size, last_sha256, statement, seal)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (letter_id) DO UPDATE SET size = EXCLUDED.size,"
    " last_sha256 = EXCLUDED.last_sha256, statement = EXCLUDED.statement, seal = EXCLUDED.seal,"
    " created_at = now() WHERE letter_checkpoints.size < EXCLUDED.size"
)


async def _checkpoint_after(
    tx: Transaction, letter_id: UUID, event: EvidenceEvent, seq: int, digest: str
) -> LetterCheckpoint | None:
    """The letter's checkpoint once this record is in: when it settles the letter's fate, or
    follows a record that did (the new checkpoint supersedes the old). Called under the
    letter's lock, so checkpoints grow with the chain."""
    if event not in SETTLING_EVENTS and not await tx.conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM letter_checkpoints WHERE letter_id = $1)", letter_id
    ):
        return None
    return LetterCheckpoint.of(letter_id, seq, digest)


async def letter_facts(
    tx: Transaction, letter_id: UUID, *, policy_id: str, kind: ProofKind
) -> LetterFacts | None:
    """What every proof of the letter repeats, from its deposit record; None (and a warning)
    when the letter has no deposit on record."""
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
        return None
    return deposit_facts(json.loads(bytes(deposit)), policy_id=policy_id)


INSERT_PROOF = (
    "INSERT INTO proofs (letter_id, kind, evidence_id, filename, pdf, sha256)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (letter_id, kind) DO NOTHING"
)
REPLACE_ENVELOPE = INSERT_PROOF.removesuffix("DO NOTHING") + (
    "DO UPDATE SET evidence_id = EXCLUDED.evidence_id, filename = EXCLUDED.filename, pdf = EXCLUDED.pdf,"
    " sha256 = EXCLUDED.sha256, created_at = now(), archived_at = NULL"
)


async def store_proof(
    tx: Transaction,
    *,
    kind: ProofKind,
    letter_id: UUID,
    evidence_id: str,
    content: ProofContent,
    item_number: str,
    proofs: ProofSealer,
) -> None:
    """Seal the proof, keep it, and publish it. An event's proof is made once; the envelope
    replaces the one before it (and goes to the evidence bucket again)."""
    pdf = await proofs.seal_proof(content)
    sha256 = hashlib.sha256(pdf).hexdigest()
    status = await tx.conn.execute(
        REPLACE_ENVELOPE if kind is ProofKind.envelope else INSERT_PROOF,
        letter_id,
        kind.value,
        UUID(evidence_id),
        content.filename,
        pdf,
        sha256,
    )
    if status.endswith(" 0"):
        return  # this event's proof was issued already
    await tx.publish(
        ProofIssued(
            correlation_id=letter_id,
            item_number=item_number,
            kind=kind.contract,
            filename=content.filename,
            pdf=pdf,
            sha256=sha256,
        )
    )


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
    """The event's proof PDF, from the letter's deposit record, sealed, stored, published."""
    if proofs is None:
        return
    facts = await letter_facts(tx, letter_id, policy_id=policy_id, kind=kind)
    if facts is None:
        return
    await store_proof(
        tx,
        kind=kind,
        letter_id=letter_id,
        evidence_id=evidence.evidence_id,
        content=proof(kind, facts, evidence, assurance),
        item_number=facts.item_number,
        proofs=proofs,
    )


async def issue_envelope(
    tx: Transaction,
    *,
    letter_id: UUID,
    policy_id: str,
    proofs: ProofSealer | None,
    assurance: SealAssurance,
) -> None:
    """The envelope, once the letter's fate is settled: every record so far, in chain order."""
    if proofs is None:
        return
    rows = await tx.conn.fetch(
        "SELECT evidence_id, event, event_time, record_sha256 FROM evidence"
        " WHERE letter_id = $1 ORDER BY seq",
        letter_id,
    )
    evidence = [
        EvidenceFact(EvidenceEvent(r["event"]), r["event_time"], str(r["evidence_id"]), r["record_sha256"])
        for r in rows
    ]
    if not any(fact.event in FINAL_EVENTS for fact in evidence):
        return
    facts = await letter_facts(tx, letter_id, policy_id=policy_id, kind=ProofKind.envelope)
    if facts is None:
        return
    await store_proof(
        tx,
        kind=ProofKind.envelope,
        letter_id=letter_id,
        evidence_id=evidence[-1].evidence_id,
        content=envelope(facts, evidence, assurance),
        item_number=facts.item_number,
        proofs=proofs,
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
    # AcceptanceRejectionExpiry: the 15-day window closed with neither acceptance nor refusal.
    LetterUnclaimed: Recording(
        EvidenceEvent.acceptance_rejection_expiry,
        time=lambda e: e.window_closed_at,
        item_number=_item_number,
        details=lambda e: {
            "reason": "neither accepted nor refused within the 15-day window: unclaimed (non réclamée)"
        },
        proof=ProofKind.non_claim,  # CPCE R.53-3: preuve de non-réclamation, to the sender at once
    ),
    # ReceiptAcknowledgement (platform extension, see EvidenceEvent): the signed AR, by
    # certificate (hash of the signed PDF) or by one-time code (the verification case).
    ReceiptSigned: Recording(
        EvidenceEvent.receipt_acknowledgement,
        time=lambda e: e.signed_at,
        item_number=_item_number,
        details=lambda e: {
            "method": e.method.value,
            "signer_name": e.signer_name,
            "receipt_sha256": e.receipt_sha256,
            "case_id": None if e.case_id is None else str(e.case_id),
        },
    ),
    # LetterLockLifted (platform extension, see EvidenceEvent): a supervisor lifted the holds
    # that wrong identities or codes put on the letter; who, why, and which holds.
    LetterLockLifted: Recording(
        EvidenceEvent.letter_lock_lifted,
        time=lambda e: e.lifted_at,
        item_number=_item_number,
        details=lambda e: {
            "kinds": [kind.value for kind in e.kinds],
            "supervisor": e.supervisor,
            "reason": e.reason,
            "locked_until": None if e.locked_until is None else e.locked_until.isoformat(),
        },
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
    await issue_envelope(
        tx, letter_id=event.correlation_id, policy_id=policy_id, proofs=proofs, assurance=sealer.assurance
    )


async def list_evidence(query: ListEvidence, tx: Transaction) -> EvidenceListed:
    """The letter's records in chain order, each negative one with its reasons (request/reply:
    changes nothing). A letter with no evidence gets an empty list."""
    rows = await tx.conn.fetch(
        "SELECT evidence_id, event, event_time, record, record_sha256, previous_sha256"
        " FROM evidence WHERE letter_id = $1 ORDER BY seq",
        query.correlation_id,
    )
    entries = []
    for row in rows:
        event = EvidenceEvent(row["event"])
        record = json.loads(bytes(row["record"]))
        entries.append(
            EvidenceEntry(
                evidence_id=row["evidence_id"],
                event=event.value,
                event_time=row["event_time"],
                record_sha256=row["record_sha256"],
                previous_sha256=row["previous_sha256"],
                reasons=reasons(record) if event.negative else (),
                channel=notice_channel(record),
            )
        )
    return EvidenceListed(correlation_id=query.correlation_id, records=tuple(entries))
