"""Properties of a letter's life as the archive hears it: whatever the order the bus brings
its events in (each event type has its own queue, so `letter.accepted` may come before
`notice.sent`, an old envelope after a new one), and however often each is delivered, the
letter ends where the events in their natural order leave it: the same facts, the same stage
for its sender, the same content expiry (`archive.domain.expiry`), the same envelope kept,
the same events published and, through the inbox, the same sender events.

The deposit is the archive's own act, so it comes first; the download is the recipient's,
tried wherever it falls among the events and, refused while the content is not available
yet, tried again at the end (the recipient retries); the sweeper runs once all is in.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.domain.expiry import RetentionPolicy
from archive.service_layer import expiry
from archive.service_layer.handlers import content_unavailable, record_download
from archive.service_layer.sender_events import tell_sender, telling
from archive.service_layer.status import get_letter_status
from archive.service_layer.uploads import content_key
from archive.service_layer.zip import on_proof_issued
from lre_shared.contracts import (
    GetLetterStatus,
    LetterAccepted,
    LetterRefused,
    LetterUnclaimed,
    Message,
    NoticeChannel,
    NoticeFailed,
    NoticeKind,
    NoticeSent,
    ProofIssued,
    ProofKind,
    ReceiptSigned,
    SignatureMethod,
    StoredDocument,
)
from lre_shared.rules import FR_LRE
from services.archive.tests.unit.fakes import DocumentRow, FakeStore, FakeUnitOfWork, deposited_letter
from tests.support.inbox import MemoryInbox

POLICY = RetentionPolicy(FR_LRE)
SENDER = "acme"
ITEM = "123456789012"
# From the end of February to the end of April 2026: the change to summer time (29 March)
# falls inside some windows.
EARLIEST = datetime(2026, 2, 25, 8, 0, tzinfo=UTC)
PROPERTY = settings(
    derandomize=True,
    database=None,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Handler = Callable[[Any, FakeUnitOfWork], Awaitable[object]]


def handlers(store: FakeStore) -> dict[type[Message], Handler]:
    """The archive's bus handlers of a letter's life, as `archive.bootstrap` subscribes them."""
    return {
        ProofIssued: telling(partial(on_proof_issued, store=store)),
        NoticeSent: telling(partial(expiry.on_notice_sent, policy=POLICY)),
        NoticeFailed: tell_sender,
        LetterAccepted: telling(partial(expiry.on_letter_accepted, policy=POLICY)),
        LetterRefused: telling(expiry.on_letter_refused),
        ReceiptSigned: telling(partial(expiry.on_receipt_signed, policy=POLICY)),
        LetterUnclaimed: telling(partial(expiry.on_letter_unclaimed, policy=POLICY)),
    }


@dataclass(frozen=True)
class Life:
    """A letter's life: its deposit, the bus events the archive hears of it in their natural
    order, when the recipient downloads it (if they do), and when the sweeper runs last."""

    letter_id: UUID
    deposited_at: datetime
    events: tuple[Message, ...]
    download_at: datetime | None
    end: datetime


def _proof(letter_id: UUID, kind: ProofKind, at: datetime) -> ProofIssued:
    pdf = f"%PDF {kind.value} {at.isoformat()}".encode()
    return ProofIssued(
        correlation_id=letter_id,
        item_number=ITEM,
        kind=kind,
        filename=f"{kind.value}.pdf",
        pdf=pdf,
        sha256=hashlib.sha256(pdf).hexdigest(),
        occurred_at=at,
    )


def _notice(letter_id: UUID, channel: NoticeChannel, at: datetime, kind: NoticeKind) -> NoticeSent:
    return NoticeSent(
        correlation_id=letter_id,
        notice_id=uuid4(),
        item_number=ITEM,
        channel=channel,
        address="camille@example.org" if channel is NoticeChannel.email else "+33612345678",
        sent_at=at,
        kind=kind,
    )


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


@st.composite
def lives(draw: st.DrawFn) -> Life:
    letter_id = UUID(int=draw(st.integers(1, 2**64)))
    deposited = EARLIEST + timedelta(days=draw(st.integers(0, 60))) + minutes(draw(st.integers(0, 1439)))
    noticed = deposited + minutes(draw(st.integers(1, 3 * 24 * 60)))
    closes = POLICY.window_closes_at(noticed)
    events: list[Message] = [_notice(letter_id, NoticeChannel.email, noticed, NoticeKind.notice)]
    if draw(st.booleans()):
        # An SMS alert, sent before or after the email: it never starts the window.
        sms_at = max(deposited, noticed + minutes(draw(st.integers(-120, 600))))
        events.append(_notice(letter_id, NoticeChannel.sms, sms_at, NoticeKind.notice))
    if draw(st.booleans()):
        events.append(
            NoticeFailed(
                correlation_id=letter_id,
                notice_id=uuid4(),
                item_number=ITEM,
                channel=NoticeChannel.fax,
                address="+33123456789",
                reason="no fax line",
                permanent=True,
                occurred_at=noticed + minutes(1),
            )
        )
    if draw(st.booleans()):
        events.append(
            _notice(letter_id, NoticeChannel.email, noticed + timedelta(days=3), NoticeKind.reminder)
        )
    outcome = draw(st.sampled_from(["accepted", "refused", "unclaimed", "awaiting"]))
    window_minutes = int((closes - noticed) / minutes(1)) - 1
    download_at = None
    if outcome == "accepted":
        accepted_at = noticed + minutes(draw(st.integers(1, window_minutes)))
        events += [
            LetterAccepted(correlation_id=letter_id, item_number=ITEM, accepted_at=accepted_at),
            _proof(letter_id, ProofKind.receipt, accepted_at + minutes(1)),
        ]
        if draw(st.booleans()):
            signed_at = accepted_at + minutes(draw(st.integers(1, 3 * 24 * 60)))
            events += [
                ReceiptSigned(
                    correlation_id=letter_id,
                    item_number=ITEM,
                    method=SignatureMethod.certificate,
                    signed_at=signed_at,
                    signer_name="Camille Martin",
                ),
                _proof(letter_id, ProofKind.envelope, signed_at + minutes(1)),
            ]
            if draw(st.booleans()):
                download_at = signed_at + minutes(draw(st.integers(2, 47 * 60)))
                # The envelope issued again with the ContentHandover record.
                events.append(_proof(letter_id, ProofKind.envelope, download_at + minutes(1)))
    elif outcome == "refused":
        refused_at = noticed + minutes(draw(st.integers(1, window_minutes)))
        events += [
            LetterRefused(correlation_id=letter_id, item_number=ITEM, refused_at=refused_at),
            _proof(letter_id, ProofKind.refusal, refused_at + minutes(1)),
            _proof(letter_id, ProofKind.envelope, refused_at + minutes(1)),
        ]
    elif outcome == "unclaimed":
        marked_at = closes + minutes(draw(st.integers(0, 120)))
        events += [
            LetterUnclaimed(
                correlation_id=letter_id, item_number=ITEM, window_closed_at=closes, occurred_at=marked_at
            ),
            _proof(letter_id, ProofKind.non_claim, marked_at + minutes(1)),
            _proof(letter_id, ProofKind.envelope, marked_at + minutes(1)),
        ]
    return Life(letter_id, deposited, tuple(events), download_at, closes + timedelta(days=30))


@dataclass(frozen=True)
class Delivery:
    """The order the bus hands the events over in (indexes into `Life.events`, some more than
    once: redeliveries), and where among them the recipient first tries to download."""

    order: tuple[int, ...]
    download_tried: int


@st.composite
def deliveries(draw: st.DrawFn, life: Life) -> Delivery:
    count = len(life.events)
    again = draw(st.lists(st.integers(0, count - 1), max_size=count))
    order = tuple(draw(st.permutations([*range(count), *again])))
    return Delivery(order, draw(st.integers(0, len(order))))


@st.composite
def shuffled_lives(draw: st.DrawFn) -> tuple[Life, Delivery]:
    life = draw(lives())
    return life, draw(deliveries(life))


class Archive:
    """The archive's records in memory, holding one deposited letter."""

    def __init__(self, life: Life) -> None:
        self.life = life
        self.uow = FakeUnitOfWork()
        self.store = FakeStore()
        self.handle = handlers(self.store)
        self.inbox = MemoryInbox()
        deposited_letter(
            self.uow.letters,
            life.letter_id,
            sender_id=SENDER,
            item_number=ITEM,
            deposited_at=life.deposited_at,
        )
        main = StoredDocument(document_id=uuid4(), filename="lettre.pdf", size=5, sha256="a" * 64)
        key = content_key(life.letter_id, main.sha256)
        self.uow.letters.documents[main.document_id] = DocumentRow(life.letter_id, main, key)
        self.store.objects[key] = (b"%PDF-", main.sha256)
        self.downloads = 0

    async def hear(self, message: Message, *, through_inbox: bool) -> None:
        handle = self.handle[type(message)]
        if through_inbox:
            await self.inbox.deliver(message, lambda m: handle(m, self.uow))
        else:
            await handle(message, self.uow)

    async def try_download(self) -> bool:
        """The recipient downloads the letter, if its content is available now."""
        at = self.life.download_at
        if at is None:
            return True
        letter = self.uow.letters.rows[self.life.letter_id].content()
        if content_unavailable(letter, at) is not None:
            return False
        self.downloads += 1
        await record_download(self.uow, self.life.letter_id, clock=lambda: at)
        return True

    async def sweep(self) -> None:
        await expiry.sweep(self.uow, store=self.store, clock=lambda: self.life.end)

    async def outcome(self) -> dict[str, Any]:
        letter_id = self.life.letter_id
        row = self.uow.letters.rows[letter_id]
        status = await get_letter_status(
            GetLetterStatus(correlation_id=letter_id, sender_id=SENDER), self.uow
        )
        envelope = self.uow.letters.envelopes.get(letter_id)
        return {
            "facts": row.facts,
            "window_closes_at": row.window_closes_at,
            "status": status.model_dump(exclude={"message_id", "occurred_at"}),
            "envelope": None if envelope is None else (envelope.proof.sha256, envelope.issued_at),
            "published": Counter(
                (
                    type(m).__name__,
                    *(v for k, v in m.model_dump().items() if k.endswith("_at") and k != "occurred_at"),
                )
                for m in self.uow.published
            ),
            "stored": sorted(self.store.objects),
        }

    def told(self) -> Counter[tuple[Any, ...]]:
        return Counter(
            (t.event, t.event_time, t.channel, t.proof_kind, t.proof_sha256) for t in self.uow.told
        )


async def in_natural_order(life: Life) -> Archive:
    archive = Archive(life)
    for event in life.events:
        await archive.hear(event, through_inbox=True)
    assert await archive.try_download()
    await archive.sweep()
    return archive


async def as_delivered(life: Life, delivery: Delivery, *, through_inbox: bool) -> Archive:
    archive = Archive(life)
    downloaded = False
    for position, index in enumerate(delivery.order):
        if position == delivery.download_tried:
            downloaded = await archive.try_download()
        await archive.hear(life.events[index], through_inbox=through_inbox)
    if not downloaded or not through_inbox:
        # The recipient tries again; or, with no inbox to count on, downloads a second time.
        assert await archive.try_download()
    await archive.sweep()
    return archive


def final_stage(life: Life) -> str:
    """Where the sender is told the letter ends, once the sweeper has run."""
    kinds = {type(event) for event in life.events}
    if LetterRefused in kinds:
        return "refused"
    if LetterUnclaimed in kinds:
        return "unclaimed"
    if life.download_at is not None:
        return "downloaded"
    if LetterAccepted in kinds:
        return "expired"  # ETSI EN 319 522 ContentHandoverFailure
    return "notified"


def run(coroutine: Awaitable[Archive]) -> Archive:
    async def wait() -> Archive:
        return await coroutine

    return asyncio.run(wait())


@PROPERTY
@given(shuffled_lives())
def test_any_order_and_any_redelivery_through_the_inbox_ends_where_the_natural_order_does(
    shuffled: tuple[Life, Delivery],
) -> None:
    life, delivery = shuffled
    expected = run(in_natural_order(life))
    got = run(as_delivered(life, delivery, through_inbox=True))

    assert asyncio.run(got.outcome()) == asyncio.run(expected.outcome())
    # And that end is the right one: the window runs from the email notice (CPCE R.53-3),
    # the stage is the life's furthest step.
    row = got.uow.letters.rows[life.letter_id]
    first_notice = life.events[0]
    assert isinstance(first_notice, NoticeSent)
    assert row.window_closes_at == POLICY.window_closes_at(first_notice.sent_at)
    assert row.facts.first_notice_at == first_notice.sent_at
    status = asyncio.run(got.outcome())["status"]
    assert status["stage"] == final_stage(life)
    # The sender hears each fact once, numbered 1, 2, 3... in the order heard.
    assert got.told() == expected.told()
    assert [t.sequence for t in got.uow.told] == list(range(1, len(got.uow.told) + 1))


@PROPERTY
@given(shuffled_lives())
def test_the_letter_s_state_needs_no_inbox_each_handler_is_idempotent(
    shuffled: tuple[Life, Delivery],
) -> None:
    """Without the inbox (a redelivery handled again) the letter's facts, expiry, stage and
    envelope still end the same: every handler keeps the first time it heard of a fact, the
    earliest notice, the newest envelope. Only the sender's stream would repeat itself,
    which the inbox is there for."""
    life, delivery = shuffled
    expected = run(in_natural_order(life))
    got = run(as_delivered(life, delivery, through_inbox=False))

    assert asyncio.run(got.outcome()) == asyncio.run(expected.outcome())


@PROPERTY
@given(shuffled_lives())
def test_a_letter_is_handed_over_once_and_expires_only_when_never_downloaded(
    shuffled: tuple[Life, Delivery],
) -> None:
    life, delivery = shuffled
    got = run(as_delivered(life, delivery, through_inbox=False))
    handovers = [type(m).__name__ for m in got.uow.published]
    facts = got.uow.letters.rows[life.letter_id].facts

    assert handovers.count("ContentHandedOver") == (1 if life.download_at else 0)
    # ETSI EN 319 522 ContentHandoverFailure: accepted (signed or not), never downloaded.
    accepted = any(isinstance(e, LetterAccepted) for e in life.events)
    assert handovers.count("ContentHandoverFailed") == (1 if accepted and not life.download_at else 0)
    # Nothing of the content is left once the sweeper has run, and the evidence of it stays.
    assert got.store.objects == {}
    assert facts.content_deleted_at == life.end
