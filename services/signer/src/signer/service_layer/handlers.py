"""Signer use cases: one sealed evidence record per event of a letter's life.

Events are named after ETSI EN 319 522-2 (SubmissionAcceptance, NotificationForAcceptance,
...); the record is sealed (CAdES + RFC 3161 timestamp) inside the transaction that
stores it, so a record is never stored unsealed when a seal key is configured: a TSA that
does not answer makes the message retry, not an unsealed record.

Deposit, acceptance, refusal and non-claim also issue their human proof (CPCE R.53-2:
preuve de dépôt; R.53-3: preuves de réception, de refus, de non-réclamation), sealed PAdES,
when proofs are configured: the record's transaction asks for it, so the record and the
request are stored together or not at all, and the proof issuer renders, seals, stores and
publishes it (`ProofIssued`, through the outbox) just after, off the event path
(`proof_issuing.py`): the sender gets it within moments.

The envelope `pli_<number>.pdf` (the letter and every record of its life) is issued when the
letter's fate is settled (receipt signed, refused, unclaimed: `FINAL_EVENTS`) and issued
again after later records (ContentHandover, ContentHandoverFailure, ...): the latest one
replaces the stored one and is published again, and the archive keeps the latest for the
download zip. Before that moment an envelope would only be out of date sooner.

From the same moment (`SETTLING_EVENTS`), each record is stored with the letter's checkpoint,
sealed in the same batch: the chain's length and its last record's SHA-256, so that a bundle
cut short is refused (`domain/checkpoint.py`); the latest replaces the one before.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID, uuid4

from lre_shared.bus import acts_for, publisher_user
from lre_shared.contracts import (
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
    ReceiptSigned,
)
from signer.domain.checkpoint import SETTLING_EVENTS, LetterCheckpoint
from signer.domain.evidence import (
    EvidenceEvent,
    build_record,
    letter_sender,
    notice_channel,
    reasons,
)
from signer.domain.proofs import EvidenceFact, ProofKind
from signer.service_layer.ports import EvidenceSealer, SealedRecord, UnitOfWork
from signer.service_layer.proof_issuing import request_proofs

log = logging.getLogger(__name__)


async def record_evidence(
    uow: UnitOfWork,
    *,
    source: Message,
    event: EvidenceEvent,
    event_time: datetime,
    item_number: str | None,
    details: dict[str, Any],
    policy_id: str,
    sealer: EvidenceSealer,
) -> EvidenceFact:
    """Append the event's sealed record to the letter's chain (with the letter's checkpoint,
    once its fate is settled) and publish `EvidenceRecorded`."""
    letter_id = source.correlation_id
    await uow.evidence.hold(letter_id)
    previous = await uow.evidence.end(letter_id)
    seq = 1 if previous is None else previous.seq + 1
    previous_sha = None if previous is None else previous.record_sha256
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
    checkpoint = await _checkpoint_after(uow, letter_id, event, seq, digest)
    if checkpoint is None:
        seal, checkpoint_seal = await sealer.seal(body), None
    else:
        # Sealed together: one batch, one timestamp, no second round trip to the TSA.
        seal, checkpoint_seal = await asyncio.gather(sealer.seal(body), sealer.seal(checkpoint.statement()))
    await uow.evidence.append(
        SealedRecord(
            evidence_id=evidence_id,
            letter_id=letter_id,
            seq=seq,
            event=event,
            event_time=event_time,
            source_message_id=source.message_id,
            body=body,
            record_sha256=digest,
            previous_sha256=previous_sha,
            seal=seal,
            seal_label=sealer.assurance.label,
        )
    )
    if checkpoint is not None:
        await uow.checkpoints.keep(checkpoint, checkpoint_seal)
    await uow.publish(
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


async def _checkpoint_after(
    uow: UnitOfWork, letter_id: UUID, event: EvidenceEvent, seq: int, digest: str
) -> LetterCheckpoint | None:
    """The letter's checkpoint once this record is in: when it settles the letter's fate, or
    follows a record that did (the new checkpoint supersedes the old). Called under the
    letter's hold, so checkpoints grow with the chain."""
    if event not in SETTLING_EVENTS and not await uow.checkpoints.exists(letter_id):
        return None
    return LetterCheckpoint.of(letter_id, seq, digest)


def _json(model: Any) -> Any:
    return json.loads(model.model_dump_json())


def _item_number(message: Any) -> str | None:
    return cast(str | None, message.item_number)


@dataclass(frozen=True)
class Recording:
    """What the evidence record of one kind of message says, and which proof it issues."""

    event: EvidenceEvent
    time: Callable[[Any], datetime]
    details: Callable[[Any], dict[str, Any]]
    # Every message of a letter's life carries its item number; a refused deposit has none.
    item_number: Callable[[Any], str | None] = _item_number
    proof: ProofKind | None = None


# One entry per event of a letter's life, named after ETSI EN 319 522-2.
RECORDINGS: dict[type[Message], Recording] = {
    LetterDeposited: Recording(
        EvidenceEvent.submission_acceptance,
        time=lambda e: e.deposited_at,
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
        details=lambda e: {
            "channel": e.channel.value,
            "address": e.address,
            "provider_message_id": e.provider_message_id,
        },
    ),
    NoticeFailed: Recording(
        EvidenceEvent.notification_for_acceptance_failure,
        time=lambda e: e.occurred_at,
        details=lambda e: {"channel": e.channel.value, "address": e.address, "reason": e.reason},
    ),
    LetterAccepted: Recording(
        EvidenceEvent.consignment_acceptance,
        time=lambda e: e.accepted_at,
        details=lambda e: {},
        proof=ProofKind.receipt,  # CPCE R.53-3: preuve de réception
    ),
    LetterRefused: Recording(
        EvidenceEvent.consignment_rejection,
        time=lambda e: e.refused_at,
        details=lambda e: {"reason": "refused by the recipient"},
        proof=ProofKind.refusal,  # CPCE R.53-3: preuve de refus
    ),
    # AcceptanceRejectionExpiry: the 15-day window closed with neither acceptance nor refusal.
    LetterUnclaimed: Recording(
        EvidenceEvent.acceptance_rejection_expiry,
        time=lambda e: e.window_closed_at,
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
        details=lambda e: {"document_id": str(e.document_id)},
    ),
    # ContentHandoverFailure: the download window closed with no download.
    ContentHandoverFailed: Recording(
        EvidenceEvent.content_handover_failure,
        time=lambda e: e.window_closed_at,
        details=lambda e: {"reason": "the download window closed with no download; the content was deleted"},
    ),
}


async def record_event(
    event: Message,
    uow: UnitOfWork,
    *,
    recording: Recording,
    policy_id: str,
    sealer: EvidenceSealer,
    proofs: bool = False,
) -> None:
    """The sealed evidence record of `event`, and, with `proofs`, the jobs of its proof where
    the event has one and of the settled letter's envelope (`proof_issuing.py`)."""
    evidence = await record_evidence(
        uow,
        source=event,
        event=recording.event,
        event_time=recording.time(event),
        item_number=recording.item_number(event),
        details=recording.details(event),
        policy_id=policy_id,
        sealer=sealer,
    )
    if not proofs:
        return  # no proof PDFs: no seal key, or no root for its certificate (`bootstrap.py`)
    await request_proofs(uow, letter_id=event.correlation_id, recorded=evidence)


async def list_evidence(
    query: ListEvidence, uow: UnitOfWork, *, trusted: Collection[str] = ()
) -> EvidenceListed:
    """The letter's records in chain order, each negative one with its reasons (request/reply:
    changes nothing). A letter with no evidence gets an empty list, and so does a letter whose
    sender the asker does not act for (`lre_shared.bus.acts_for`; `trusted`: the platform's
    users that act for any sender): nobody learns that another sender's letter exists."""
    chain = await uow.evidence.chain(query.correlation_id)
    records = [json.loads(chained.body) for chained in chain]
    if not may_read_letter(letter_sender(records), query.sender_id, trusted):
        return EvidenceListed(correlation_id=query.correlation_id, records=())
    entries = []
    for chained, record in zip(chain, records, strict=True):
        entries.append(
            EvidenceEntry(
                evidence_id=chained.evidence_id,
                event=chained.event.value,
                event_time=chained.event_time,
                record_sha256=chained.record_sha256,
                previous_sha256=chained.previous_sha256,
                reasons=reasons(record) if chained.event.negative else (),
                channel=notice_channel(record),
            )
        )
    return EvidenceListed(correlation_id=query.correlation_id, records=tuple(entries))


def may_read_letter(sender: str | None, asked_for: str | None, trusted: Collection[str]) -> bool:
    """Whether the publisher of a query may learn about a letter deposited by `sender` (None:
    no deposit recorded yet, which only a trusted user may ask about), when asking for the
    sender `asked_for` (None: any)."""
    if asked_for is not None and asked_for != sender:
        return False
    if sender is None:
        return publisher_user() in trusted
    return acts_for(sender, trusted)
