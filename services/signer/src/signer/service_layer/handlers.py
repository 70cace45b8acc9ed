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
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
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
    ProofIssued,
    ReceiptSigned,
)
from signer.domain.checkpoint import SETTLING_EVENTS, LetterCheckpoint
from signer.domain.evidence import (
    FINAL_EVENTS,
    EvidenceEvent,
    SealAssurance,
    build_record,
    letter_sender,
    notice_channel,
    reasons,
)
from signer.domain.proofs import (
    AttachedRecord,
    EvidenceFact,
    LetterFacts,
    ProofContent,
    ProofKind,
    deposit_facts,
    envelope,
    proof,
)
from signer.service_layer.ports import (
    ChainedRecord,
    EvidenceSealer,
    IssuedProof,
    ProofSealer,
    SealedRecord,
    UnitOfWork,
)

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


async def letter_facts(
    uow: UnitOfWork, letter_id: UUID, *, policy_id: str, kind: ProofKind
) -> LetterFacts | None:
    """What every proof of the letter repeats, from its deposit record; None (and a warning)
    when the letter has no deposit on record."""
    deposit = await uow.evidence.deposit(letter_id)
    if deposit is None:
        log.warning(
            "no %s proof: no deposit on record for this letter",
            kind.value,
            extra={"letter_id": str(letter_id)},
        )
        return None
    return deposit_facts(json.loads(deposit), policy_id=policy_id)


async def issue(
    uow: UnitOfWork,
    *,
    kind: ProofKind,
    letter_id: UUID,
    evidence_id: str,
    content: Callable[[LetterFacts], ProofContent],
    chain: Sequence[ChainedRecord],
    policy_id: str,
    proofs: ProofSealer,
) -> None:
    """Seal the proof `content` makes of the letter's facts, keep it, and publish it. An
    event's proof is made once; the envelope replaces the one before it (and goes to the
    evidence bucket again). `chain` is the letter's chain as it stands."""
    facts = await letter_facts(uow, letter_id, policy_id=policy_id, kind=kind)
    if facts is None:
        return
    # The sealed records it attests go inside it: the event's record; every record for the
    # envelope. Rendered in before the PAdES seal, which then covers them too.
    attested = [
        AttachedRecord(r.seq, r.body, r.seal)
        for r in chain
        if kind is ProofKind.envelope or str(r.evidence_id) == evidence_id
    ]
    made = replace(content(facts), evidence=tuple(attested))
    pdf = await proofs.seal_proof(made)
    sha256 = hashlib.sha256(pdf).hexdigest()
    issued = IssuedProof(letter_id, kind, UUID(evidence_id), made.filename, pdf, sha256)
    if kind is ProofKind.envelope:
        await uow.proofs.replace(issued)
    elif not await uow.proofs.add(issued):
        return  # this event's proof was issued already
    await uow.publish(
        ProofIssued(
            correlation_id=letter_id,
            item_number=facts.item_number,
            kind=kind.contract,
            filename=made.filename,
            pdf=pdf,
            sha256=sha256,
        )
    )


async def issue_envelope(
    uow: UnitOfWork,
    *,
    letter_id: UUID,
    chain: Sequence[ChainedRecord],
    policy_id: str,
    proofs: ProofSealer,
    assurance: SealAssurance,
) -> None:
    """The envelope, once the letter's fate is settled: every record so far, in chain order."""
    evidence = [EvidenceFact(r.event, r.event_time, str(r.evidence_id), r.record_sha256) for r in chain]
    if not any(fact.event in FINAL_EVENTS for fact in evidence):
        return
    await issue(
        uow,
        kind=ProofKind.envelope,
        letter_id=letter_id,
        evidence_id=evidence[-1].evidence_id,
        content=lambda facts: envelope(facts, evidence, assurance),
        chain=chain,
        policy_id=policy_id,
        proofs=proofs,
    )


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


# The proof of each event that has one (the envelope attests every event, not one).
PROOF_KINDS = {kind.event: kind for kind in ProofKind if kind is not ProofKind.envelope}


async def record_event(
    event: Message,
    uow: UnitOfWork,
    *,
    recording: Recording,
    policy_id: str,
    sealer: EvidenceSealer,
    proofs: ProofSealer | None = None,
) -> None:
    """The sealed evidence record of `event`, and its proof where the event has one."""
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
    if proofs is None:
        return  # no proof PDFs: no seal key, or no root for its certificate (`bootstrap.py`)
    letter_id, assurance = event.correlation_id, sealer.assurance
    # Read once for both proofs: the event's record for its own, every record for the envelope.
    chain = await uow.evidence.chain(letter_id)
    # The event's proof PDF, from the letter's deposit record. A deposit recorded after the
    # decision (its queue lagged, or it was replayed from the dead-letter queue) also issues
    # the proofs that waited for it (CPCE R.53-3): the order of the queues loses no proof.
    due = [evidence] if recording.proof is not None else []
    if recording.event is EvidenceEvent.submission_acceptance:
        due += [
            EvidenceFact(r.event, r.event_time, str(r.evidence_id), r.record_sha256)
            for r in chain
            if r.event in PROOF_KINDS and r.event is not recording.event
        ]
    for fact in due:
        await issue(
            uow,
            kind=PROOF_KINDS[fact.event],
            letter_id=letter_id,
            evidence_id=fact.evidence_id,
            content=partial(proof, PROOF_KINDS[fact.event], evidence=fact, seal=assurance),
            chain=chain,
            policy_id=policy_id,
            proofs=proofs,
        )
    await issue_envelope(
        uow, letter_id=letter_id, chain=chain, policy_id=policy_id, proofs=proofs, assurance=assurance
    )


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
