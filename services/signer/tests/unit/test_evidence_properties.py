"""Properties of a letter's evidence: whatever the order the bus brings the events of its life
in (each event type has its own queue: the deposit may come last when its queue lags or is
replayed from the dead-letter queue), and however often each is delivered, the signer keeps
exactly one record per (event, source message), the same records as in the natural order,
chained without a gap (ETSI EN 319 522: each record holds the SHA-256 of the one before), the
letter's checkpoint over the whole chain once its fate is settled, and the same proofs (CPCE
R.53-2, R.53-3), the envelope attesting every record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from lre_shared.contracts import (
    ContentHandedOver,
    ContentHandoverFailed,
    EvidenceRecorded,
    LetterAccepted,
    LetterDeposited,
    LetterLockLifted,
    LetterRefused,
    LetterUnclaimed,
    LockKind,
    Message,
    NoticeChannel,
    NoticeFailed,
    NoticeSent,
    ProofIssued,
    ReceiptSigned,
    SignatureMethod,
    StoredDocument,
)
from lre_shared.rules import FR_LRE
from services.signer.tests.unit.fakes import CountingSealer, InMemoryUnitOfWork, TextProofSealer
from signer.domain.checkpoint import SETTLING_EVENTS, LetterCheckpoint
from signer.domain.evidence import FINAL_EVENTS, SealAssurance
from signer.domain.proofs import ProofContent, ProofKind
from signer.service_layer import handlers, proof_issuing
from tests.support.inbox import MemoryInbox

POLICY = "urn:lre:policy:test"
SEALED = SealAssurance(sealed=True, qualified=False)
ITEM = "799273987130"
EARLIEST = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PROPERTY = settings(
    derandomize=True,
    database=None,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def deposit(letter_id: UUID, at: datetime) -> LetterDeposited:
    return LetterDeposited(
        correlation_id=letter_id,
        item_number=ITEM,
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        documents=(StoredDocument(document_id=uuid4(), filename="lettre.pdf", size=1234, sha256="b" * 64),),
        verification_policy="default",
        deposited_at=at,
    )


def email_notice(letter_id: UUID, at: datetime) -> NoticeSent:
    return NoticeSent(
        correlation_id=letter_id,
        notice_id=uuid4(),
        item_number=ITEM,
        channel=NoticeChannel.email,
        address="camille@example.org",
        sent_at=at,
    )


@st.composite
def lives(draw: st.DrawFn) -> tuple[Message, ...]:
    """The events of one letter's life the signer records, in their natural order."""
    letter_id = UUID(int=draw(st.integers(1, 2**64)))
    deposited_at = EARLIEST + minutes(draw(st.integers(0, 60 * 24 * 30)))
    noticed = deposited_at + minutes(draw(st.integers(1, 600)))
    events: list[Message] = [deposit(letter_id, deposited_at), email_notice(letter_id, noticed)]
    if draw(st.booleans()):
        events.append(
            NoticeFailed(
                correlation_id=letter_id,
                notice_id=uuid4(),
                item_number=ITEM,
                channel=NoticeChannel.sms,
                address="+33600000000",
                reason="the number does not exist",
                permanent=True,
                occurred_at=noticed + minutes(1),
            )
        )
    if draw(st.booleans()):
        events.append(
            LetterLockLifted(
                correlation_id=letter_id,
                item_number=ITEM,
                kinds=(LockKind.identity,),
                supervisor="desk-supervisor",
                reason="the recipient called",
                lifted_at=noticed + timedelta(days=1),
            )
        )
    decided_at = noticed + timedelta(days=2) + minutes(draw(st.integers(0, 600)))
    outcome = draw(st.sampled_from(["accepted", "refused", "unclaimed", "awaiting"]))
    if outcome == "accepted":
        signed_at = decided_at + minutes(draw(st.integers(1, 3000)))
        events += [
            LetterAccepted(correlation_id=letter_id, item_number=ITEM, accepted_at=decided_at),
            ReceiptSigned(
                correlation_id=letter_id,
                item_number=ITEM,
                method=SignatureMethod.certificate,
                signed_at=signed_at,
                signer_name="Camille Martin",
                receipt_sha256="c" * 64,
            ),
        ]
        if draw(st.booleans()):
            events.append(
                ContentHandedOver(
                    correlation_id=letter_id,
                    item_number=ITEM,
                    document_id=uuid4(),
                    handed_over_at=signed_at + minutes(draw(st.integers(1, 47 * 60))),
                )
            )
        else:
            events.append(
                ContentHandoverFailed(
                    correlation_id=letter_id,
                    item_number=ITEM,
                    window_closed_at=signed_at + timedelta(hours=FR_LRE.download_hours),
                )
            )
    elif outcome == "refused":
        events.append(LetterRefused(correlation_id=letter_id, item_number=ITEM, refused_at=decided_at))
    elif outcome == "unclaimed":
        events.append(
            LetterUnclaimed(
                correlation_id=letter_id, item_number=ITEM, window_closed_at=noticed + timedelta(days=16)
            )
        )
    return tuple(events)


@st.composite
def shuffled_lives(draw: st.DrawFn) -> tuple[tuple[Message, ...], tuple[Message, ...]]:
    """A life in its natural order, and as the bus delivers it: in any order, some events
    more than once (redeliveries of the same message)."""
    life = draw(lives())
    again = draw(st.lists(st.sampled_from(life), max_size=len(life)))
    return life, tuple(draw(st.permutations([*life, *again])))


class ProofsByBytes(TextProofSealer):
    """Proofs as text, each remembered by the bytes it gave (to read what a kept one attests)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_pdf: dict[bytes, ProofContent] = {}

    async def seal_proof(self, content: ProofContent) -> bytes:
        pdf = await super().seal_proof(content)
        self.by_pdf[pdf] = content
        return pdf


@dataclass
class Signer:
    """The signer's journal in memory, a sealer that marks what it seals, and proofs as text."""

    uow: InMemoryUnitOfWork
    sealer: CountingSealer
    proofs: ProofsByBytes
    inbox: MemoryInbox

    @classmethod
    def new(cls) -> Signer:
        return cls(InMemoryUnitOfWork(), CountingSealer(SEALED), ProofsByBytes(), MemoryInbox())

    async def record(self, event: Message) -> None:
        await handlers.record_event(
            event,
            self.uow,
            recording=handlers.RECORDINGS[type(event)],
            policy_id=POLICY,
            sealer=self.sealer,
            proofs=True,
        )
        # The proof issuer takes what the record asked for once it is committed.
        while await proof_issuing.issue_due(
            self.uow, proofs=self.proofs, policy_id=POLICY, assurance=self.sealer.assurance
        ):
            pass

    async def hear(self, events: tuple[Message, ...], *, through_inbox: bool = True) -> Signer:
        for event in events:
            if through_inbox:
                await self.inbox.deliver(event, self.record)
            else:
                await self.record(event)
        return self


def hear(events: tuple[Message, ...], *, through_inbox: bool = True) -> Signer:
    return asyncio.run(Signer.new().hear(events, through_inbox=through_inbox))


def records(signer: Signer, letter_id: UUID) -> Counter[tuple[Any, ...]]:
    """The letter's records by what they say, leaving out where the chain put them (seq,
    previous record) and their random evidence ids."""
    said = []
    for record in signer.uow.evidence.of(letter_id):
        body = json.loads(record.body)
        said.append(
            (
                record.event,
                record.event_time,
                record.source_message_id,
                body["event_uri"],
                body["item_number"],
                json.dumps(body["details"], sort_keys=True),
            )
        )
    return Counter(said)


def assert_a_valid_chain(signer: Signer, letter_id: UUID) -> None:
    chain = signer.uow.evidence.of(letter_id)
    previous = None
    for seq, record in enumerate(chain, start=1):
        body = json.loads(record.body)
        assert record.seq == body["seq"] == seq
        assert record.previous_sha256 == body["previous_sha256"] == previous
        assert record.record_sha256 == hashlib.sha256(record.body).hexdigest()
        assert record.seal == b"seal of " + record.body
        previous = record.record_sha256
    # Each record announced once, in chain order.
    recorded = [m for m in signer.uow.of_type(EvidenceRecorded) if m.correlation_id == letter_id]
    assert [(m.evidence_id, m.record_sha256) for m in recorded] == [
        (r.evidence_id, r.record_sha256) for r in chain
    ]
    # Once the fate is settled, a checkpoint over the whole chain, sealed; none before.
    kept = signer.uow.checkpoints.latest.get(str(letter_id))
    if any(r.event in SETTLING_EVENTS for r in chain):
        assert kept is not None
        checkpoint, seal = kept
        assert checkpoint == LetterCheckpoint.of(letter_id, len(chain), chain[-1].record_sha256)
        assert seal == b"seal of " + checkpoint.statement()
    else:
        assert kept is None


def proofs(signer: Signer, letter_id: UUID) -> dict[ProofKind, list[tuple[Any, ...]]]:
    """The proofs kept for the letter, each with the records it attests (by source message)."""
    source = {r.evidence_id: r.source_message_id for r in signer.uow.evidence.of(letter_id)}
    by_body = {r.body: r.evidence_id for r in signer.uow.evidence.of(letter_id)}
    kept: dict[ProofKind, list[tuple[Any, ...]]] = {}
    for (letter, kind), issued in signer.uow.proofs.kept.items():
        if letter != letter_id:
            continue
        made = signer.proofs.by_pdf[issued.pdf]
        kept[kind] = sorted(str(source[by_body[attached.body]]) for attached in made.evidence)
    return kept


@PROPERTY
@given(shuffled_lives())
def test_any_order_and_redelivery_keeps_one_record_per_message_the_same_records_chained(
    shuffled: tuple[tuple[Message, ...], tuple[Message, ...]],
) -> None:
    life, delivered = shuffled
    letter_id = life[0].correlation_id
    natural, got = hear(life), hear(delivered)

    assert records(got, letter_id) == records(natural, letter_id)
    assert Counter(r.source_message_id for r in got.uow.evidence.of(letter_id)) == Counter(
        e.message_id for e in life
    )
    assert_a_valid_chain(got, letter_id)


@PROPERTY
@given(shuffled_lives())
def test_any_order_and_redelivery_issues_the_same_proofs_and_an_envelope_of_every_record(
    shuffled: tuple[tuple[Message, ...], tuple[Message, ...]],
) -> None:
    life, delivered = shuffled
    letter_id = life[0].correlation_id
    natural, got = hear(life), hear(delivered)
    every_record = sorted(str(e.message_id) for e in life)

    assert proofs(got, letter_id).keys() == proofs(natural, letter_id).keys()
    for kind, attested in proofs(got, letter_id).items():
        if kind is ProofKind.envelope:
            assert attested == every_record
        else:
            # CPCE R.53-2, R.53-3: each proof attests the one record of its event.
            (event,) = [e for e in life if handlers.RECORDINGS[type(e)].proof is kind]
            assert attested == [str(event.message_id)]
    settled = any(handlers.RECORDINGS[type(e)].event in FINAL_EVENTS for e in life)
    assert (ProofKind.envelope in proofs(got, letter_id)) == settled


@PROPERTY
@given(shuffled_lives())
def test_without_the_inbox_a_redelivery_is_recorded_again_but_the_chain_holds_and_proofs_stay_single(
    shuffled: tuple[tuple[Message, ...], tuple[Message, ...]],
) -> None:
    """The journal counts on the inbox for one record per message (a record of the same
    message again is a new link, not an edit); the chain and the proofs of single events must
    hold even when a message is handled twice."""
    life, delivered = shuffled
    letter_id = life[0].correlation_id
    got = hear(delivered, through_inbox=False)

    assert Counter(r.source_message_id for r in got.uow.evidence.of(letter_id)) == Counter(
        e.message_id for e in delivered
    )
    assert_a_valid_chain(got, letter_id)
    # An event's proof is made once (`ProofStore.add`); only the envelope is issued again.
    published = Counter(
        m.kind for m in got.uow.of_type(ProofIssued) if m.kind is not ProofKind.envelope.contract
    )
    assert set(published.values()) <= {1}


def test_a_refusal_recorded_before_its_deposit_still_gets_its_proof_of_refusal() -> None:
    """The deposit's queue lagged (or its message was replayed from the dead-letter queue):
    the refusal's record came first, when no deposit was there to make its proof from. The
    preuve de refus (CPCE R.53-3) is issued once the deposit is recorded."""
    letter_id = uuid4()
    deposited, noticed = deposit(letter_id, EARLIEST), email_notice(letter_id, EARLIEST + minutes(1))
    refusal = LetterRefused(
        correlation_id=letter_id, item_number=ITEM, refused_at=EARLIEST + timedelta(days=2)
    )

    got = hear((noticed, refusal, deposited))

    issued = {m.kind for m in got.uow.of_type(ProofIssued)}
    assert issued == {ProofKind.deposit.contract, ProofKind.refusal.contract, ProofKind.envelope.contract}
    assert proofs(got, letter_id)[ProofKind.refusal] == [str(refusal.message_id)]
