"""Properties of the letter's life on the recipient's side, whatever the order the bus brings
its events in and however often: the 15-day window runs from the day after the first notice,
which is the email (CPCE R.53-3; an SMS, call or fax alert, a reminder, a failure or a
redelivery moves nothing); there is never more than one decision, and unclaimed (non
réclamée) never follows a decision nor comes before the window closed; the signed AR follows
the acceptance, once; every hold ends; a supervisor's lift and a language change are
announced once each.

`LetterLifeMachine` drives one letter through any interleaving of the bus's deliveries and
redeliveries, the recipient's actions, the desk's and the sweeper's, and the clock, and
checks those invariants after every step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from uuid import UUID, uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from lre_shared.bus.inbox import Claim
from lre_shared.contracts import (
    CaseState,
    CodeFailed,
    Language,
    LetterAccepted,
    LetterDeposited,
    LetterLanguageChanged,
    LetterLockLifted,
    LetterRefused,
    LetterUnclaimed,
    LiftLetterLock,
    LockKind,
    Message,
    NoticeChannel,
    NoticeFailed,
    NoticeKind,
    NoticeSent,
    ReceiptSigned,
    SendNotice,
    SignatureMethod,
    VerificationCaseOpened,
    VerificationDecided,
)
from lre_shared.rules import FR_LRE
from pickup.domain.letter import Case, LetterView
from pickup.domain.locks import HoldRules, Holds
from pickup.service_layer import handlers, locks, signature, unclaimed
from pickup.service_layer.handlers import DecisionRefused
from services.pickup.tests.unit.fakes import FakeCases, FakeLetters, FakeStorage, FakeUnitOfWork
from tests.support.inbox import MemoryInbox

RULES = FR_LRE
HOLD_RULES = HoldRules(max_failures=2, hold_addresses=2)
ITEM = "123456789012"
# The change to summer time (29 March 2026) falls inside the windows.
START = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
RIGHT = {"first_name": "Camille", "last_name": "Martin"}
ADDRESSES = ("203.0.113.7", "198.51.100.4", "2001:db8::1")
DECISIONS = (LetterAccepted, LetterRefused, LetterUnclaimed)


@dataclass
class OrderedCases(FakeCases):
    """`FakeCases` with the rule `PgCases.decided` keeps in SQL: a decision older than the one
    applied is ignored (messages may arrive out of order), and one for an unknown letter."""

    letters: FakeLetters = field(default_factory=FakeLetters)
    decided_at: dict[UUID, datetime] = field(default_factory=dict)

    async def decided(self, event: VerificationDecided) -> bool:
        letter_id = event.correlation_id
        applied = self.decided_at.get(letter_id)
        if letter_id not in self.letters.rows or (applied is not None and applied > event.decided_at):
            return False
        self.decided_at[letter_id] = event.decided_at
        self.rows[letter_id] = replace(
            self.rows[letter_id], case_id=event.case_id, state=CaseState(event.outcome), reason=event.reason
        )
        return True


def storage() -> FakeStorage:
    letters = FakeLetters()
    return FakeStorage(letters=letters, cases=OrderedCases(letters=letters))


def deposited(letter_id: UUID) -> LetterDeposited:
    return LetterDeposited(
        correlation_id=letter_id,
        item_number=ITEM,
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        documents=(),
        verification_policy="default",
        deposited_at=START,
        alert_channels=(NoticeChannel.email, NoticeChannel.sms),
    )


def notice(letter_id: UUID, channel: NoticeChannel, at: datetime, kind: NoticeKind) -> NoticeSent:
    return NoticeSent(
        correlation_id=letter_id,
        notice_id=uuid4(),
        item_number=ITEM,
        channel=channel,
        address="camille@example.org" if channel is NoticeChannel.email else "+33612345678",
        sent_at=at,
        kind=kind,
    )


async def on_lift(command: LiftLetterLock, uow: FakeUnitOfWork) -> None:
    await locks.on_lift_letter_lock(command, uow, clock=lambda: command.requested_at)


# The pickup's bus handlers, as `pickup.bootstrap` subscribes them.
HANDLERS: dict[type[Message], Any] = {
    LetterDeposited: lambda m, uow: handlers.on_letter_deposited(m, uow, rules=RULES),
    NoticeSent: lambda m, uow: handlers.on_notice_sent(m, uow, rules=RULES),
    NoticeFailed: handlers.on_notice_failed,
    VerificationDecided: signature.on_verification_decided,
    CodeFailed: signature.on_code_failed,
    LiftLetterLock: on_lift,
}
# Those whose effect is the same however often they are handled, inbox or not.
IDEMPOTENT = (NoticeSent, VerificationDecided, CodeFailed)


async def handle(store: FakeStorage, message: Message) -> None:
    async with store.unit_of_work() as uow:
        await HANDLERS[type(message)](message, uow)


def deposited_at(now: datetime) -> Any:
    """`on_letter_deposited` counts a provisional window from the clock: this one."""
    return mock.patch.object(handlers, "now_utc", return_value=now)


# ------------------------------------------------------------------ the notices, in any order


@st.composite
def notices(draw: st.DrawFn) -> tuple[tuple[NoticeSent | NoticeFailed, ...], datetime]:
    """A letter's notices as the notifier sends them: one email notice (the first notice of
    CPCE R.53-3), alerts by SMS, call or fax sent before or after it, reminders, failures;
    and when the email left."""
    letter_id = UUID(int=1)
    email_at = START + timedelta(minutes=draw(st.integers(1, 60 * 24 * 20)))
    sent: list[NoticeSent | NoticeFailed] = [
        notice(letter_id, NoticeChannel.email, email_at, NoticeKind.notice)
    ]
    for _ in range(draw(st.integers(0, 4))):
        channel = draw(st.sampled_from(list(NoticeChannel)))
        kind = draw(st.sampled_from([NoticeKind.notice, NoticeKind.reminder]))
        if channel is NoticeChannel.email:
            kind = NoticeKind.reminder  # the email notice is sent once; reminders follow it
        at = email_at + timedelta(minutes=draw(st.integers(-600, 60 * 24 * 10)))
        sent.append(notice(letter_id, channel, at, kind))
    if draw(st.booleans()):
        sent.append(
            NoticeFailed(
                correlation_id=letter_id,
                notice_id=uuid4(),
                item_number=ITEM,
                channel=NoticeChannel.fax,
                address="+33123456789",
                reason="no fax line",
                permanent=True,
            )
        )
    again = draw(st.lists(st.sampled_from(sent), max_size=len(sent)))
    return tuple(draw(st.permutations([*sent, *again]))), email_at


@settings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(notices(), st.booleans())
def test_the_window_runs_from_the_email_notice_whatever_the_order_and_the_redeliveries(
    delivered: tuple[tuple[NoticeSent | NoticeFailed, ...], datetime], through_inbox: bool
) -> None:
    messages, email_at = delivered
    letter_id = messages[0].correlation_id
    store, inbox = storage(), MemoryInbox()

    async def hear() -> None:
        with deposited_at(START):
            await inbox.deliver(deposited(letter_id), lambda m: handle(store, m))
        for message in messages:
            if through_inbox or isinstance(message, NoticeFailed):  # failures count: inbox only
                await inbox.deliver(message, lambda m: handle(store, m))
            else:
                await handle(store, message)

    asyncio.run(hear())

    letter = store.letters.rows[letter_id]
    assert letter.first_notice_at == email_at
    assert letter.deadline == RULES.acceptance_deadline(email_at)
    # CPCE R.53-3: 15 whole days, Paris time, from the day after the notice's.
    closes = RULES.window_closes_at(letter.deadline).astimezone(RULES.timezone)
    assert (closes.hour, closes.minute) == (0, 0)
    assert closes.date() - email_at.astimezone(RULES.timezone).date() == timedelta(
        days=RULES.acceptance_days + 1
    )
    # A failure counts once, however often it came.
    failures = {m.message_id for m in messages if isinstance(m, NoticeFailed)}
    assert store.letters.notice_failures.get(letter_id, 0) == len(failures)
    # The deposit's notices were asked for once, one command a channel.
    assert Counter(m.channel for m in store.published if isinstance(m, SendNotice)) == {
        NoticeChannel.email: 1,
        NoticeChannel.sms: 1,
    }


# ------------------------------------------------------------------ decisions around the window's close


Action = tuple[str, int]  # ("accept" | "refuse" | "sweep", minutes from the window's close)


@settings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(
    st.integers(1, 60 * 24 * 20),
    st.lists(
        st.tuples(st.sampled_from(["accept", "refuse", "sweep"]), st.integers(-3 * 24 * 60, 3 * 24 * 60)),
        min_size=1,
        max_size=8,
    ),
)
def test_one_decision_at_most_inside_the_window_and_unclaimed_only_after_it_without_one(
    notice_minutes: int, actions: list[Action]
) -> None:
    """The recipient's decisions and the sweeper, at any moments around the window's close
    (in time order: the clock only goes forward)."""
    store, letter_id = storage(), uuid4()
    email_at = START + timedelta(minutes=notice_minutes)

    async def live() -> None:
        with deposited_at(START):
            await handle(store, deposited(letter_id))
        await handle(store, notice(letter_id, NoticeChannel.email, email_at, NoticeKind.notice))
        closes = RULES.window_closes_at(store.letters.rows[letter_id].deadline)
        for action, offset in in_order(actions):
            now = closes + timedelta(minutes=offset)
            if action == "sweep":
                await unclaimed.sweep(store, rules=RULES, clock=lambda now=now: now)
                continue
            with contextlib.suppress(DecisionRefused):
                await handlers.decide(store, letter_id, action == "accept", RULES, now)

    asyncio.run(live())

    closes = RULES.window_closes_at(RULES.acceptance_deadline(email_at))
    decisions = [m for m in store.published if isinstance(m, DECISIONS)]
    assert len(decisions) <= 1
    in_time = [(action, offset) for action, offset in in_order(actions) if action != "sweep" and offset < 0]
    if in_time:
        # The first attempt inside the window decides, whatever comes after.
        (action, offset), (decided,) = in_time[0], decisions
        moment = closes + timedelta(minutes=offset)
        if action == "accept":
            assert isinstance(decided, LetterAccepted) and decided.accepted_at == moment
        else:
            assert isinstance(decided, LetterRefused) and decided.refused_at == moment
    elif any(action == "sweep" and offset >= 0 for action, offset in actions):
        (expired,) = decisions
        assert isinstance(expired, LetterUnclaimed) and expired.window_closed_at == closes
    else:
        assert decisions == []


def in_order(actions: list[Action]) -> list[Action]:
    return sorted(actions, key=lambda action: action[1])


# ------------------------------------------------------------------ the whole life, step by step


class LetterLifeMachine(RuleBasedStateMachine):
    """One letter, from its deposit on: the bus delivers what the other services produced, in
    any order, some of it again; the recipient, the desk, the sweeper and the clock act."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now = START
        self.store = storage()
        self.inbox = MemoryInbox()
        self.letter_id = uuid4()
        self.produced: list[Message] = []
        self.delivered: set[int] = set()
        self.email_notice: NoticeSent | None = None
        self.language: Language = "fr"
        self.language_changes = 0

    def teardown(self) -> None:
        self.loop.close()

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def tick(self) -> datetime:
        """A moment of its own for each thing produced: no two at the same instant."""
        self.now += timedelta(seconds=1)
        return self.now

    @property
    def letter(self) -> LetterView:
        return self.store.letters.rows[self.letter_id]

    def published(self, *types: type[Message]) -> list[Message]:
        return [m for m in self.store.published if isinstance(m, types)]

    @initialize(email_now=st.booleans())
    def deposit(self, email_now: bool) -> None:
        """The deposit, handled; the email notice leaves at once, or later (after an alert)."""
        message = deposited(self.letter_id)
        with deposited_at(self.now):
            self.run(self.inbox.deliver(message, lambda m: handle(self.store, m)))
        self.produced.append(message)
        self.delivered.add(0)
        self.run(
            signature.case_opened(
                self.store,
                self.letter_id,
                VerificationCaseOpened(
                    correlation_id=self.letter_id, case_id=uuid4(), reference="LRE-7K3M9Q"
                ),
                "upload",
                "sms",
            )
        )
        if email_now:
            self.the_email_notice_leaves()

    # ---------------------------------------------------------------- what others produce

    @precondition(lambda self: self.email_notice is None)
    @rule()
    def the_email_notice_leaves(self) -> None:
        self.email_notice = notice(self.letter_id, NoticeChannel.email, self.tick(), NoticeKind.notice)
        self.produced.append(self.email_notice)

    @rule(
        channel=st.sampled_from([NoticeChannel.sms, NoticeChannel.voice, NoticeChannel.fax]),
        kind=st.sampled_from([NoticeKind.notice, NoticeKind.reminder]),
    )
    def an_alert_or_a_reminder_leaves(self, channel: NoticeChannel, kind: NoticeKind) -> None:
        self.produced.append(notice(self.letter_id, channel, self.tick(), kind))

    @rule()
    def a_notice_fails(self) -> None:
        self.produced.append(
            NoticeFailed(
                correlation_id=self.letter_id,
                notice_id=uuid4(),
                item_number=ITEM,
                channel=NoticeChannel.fax,
                address="+33123456789",
                reason="no fax line",
                permanent=True,
                occurred_at=self.tick(),
            )
        )

    @rule(outcome=st.sampled_from(["approved", "rejected", "more_documents"]))
    def the_desk_decides(self, outcome: Any) -> None:
        self.produced.append(
            VerificationDecided(
                correlation_id=self.letter_id,
                case_id=uuid4(),
                item_number=ITEM,
                outcome=outcome,
                decided_at=self.tick(),
            )
        )

    @rule(channel=st.sampled_from(["email", "sms"]))
    def a_code_cannot_be_sent(self, channel: Any) -> None:
        self.produced.append(
            CodeFailed(
                correlation_id=self.letter_id,
                code_id=uuid4(),
                channel=channel,
                reason="refused",
                occurred_at=self.tick(),
            )
        )

    @rule(kinds=st.sampled_from([(LockKind.identity,), (LockKind.code,), (LockKind.identity, LockKind.code)]))
    def a_supervisor_lifts_the_holds(self, kinds: tuple[LockKind, ...]) -> None:
        self.produced.append(
            LiftLetterLock(
                correlation_id=self.letter_id,
                item_number=ITEM,
                kinds=kinds,
                supervisor="desk-supervisor",
                reason="the recipient called",
                requested_at=self.tick(),
            )
        )

    # ---------------------------------------------------------------- the bus

    @precondition(lambda self: len(self.delivered) < len(self.produced))
    @rule(data=st.data())
    def the_bus_delivers_one(self, data: st.DataObject) -> None:
        index = data.draw(st.sampled_from(sorted(set(range(len(self.produced))) - self.delivered)))
        claim = self.run(self.inbox.deliver(self.produced[index], lambda m: handle(self.store, m)))
        assert claim is Claim.fresh
        self.delivered.add(index)

    @precondition(lambda self: len(self.delivered) < len(self.produced))
    @rule(data=st.data())
    def the_bus_catches_up(self, data: st.DataObject) -> None:
        """Every queue drains, the messages in any order."""
        pending = sorted(set(range(len(self.produced))) - self.delivered)
        for index in data.draw(st.permutations(pending)):
            self.run(self.inbox.deliver(self.produced[index], lambda m: handle(self.store, m)))
            self.delivered.add(index)

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def the_bus_delivers_one_again(self, data: st.DataObject) -> None:
        message = self.produced[data.draw(st.sampled_from(sorted(self.delivered)))]
        claim = self.run(self.inbox.deliver(message, lambda m: handle(self.store, m)))
        assert claim is Claim.duplicate

    @precondition(lambda self: any(isinstance(self.produced[i], IDEMPOTENT) for i in self.delivered))
    @rule(data=st.data())
    def a_message_is_handled_again_past_the_inbox(self, data: st.DataObject) -> None:
        again = sorted(i for i in self.delivered if isinstance(self.produced[i], IDEMPOTENT))
        self.run(handle(self.store, self.produced[data.draw(st.sampled_from(again))]))

    # ---------------------------------------------------------------- the recipient, the sweeper, the clock

    @rule(accept=st.booleans())
    def the_recipient_decides(self, accept: bool) -> None:
        with contextlib.suppress(DecisionRefused):
            self.run(handlers.decide(self.store, self.letter_id, accept, RULES, self.now))

    @rule(method=st.sampled_from(list(SignatureMethod)))
    def the_recipient_signs(self, method: SignatureMethod) -> None:
        self.run(
            signature.record_signature(self.store, self.letter_id, method, "Camille Martin", now=self.now)
        )

    @rule(address=st.sampled_from(ADDRESSES), wrong=st.booleans())
    def someone_answers_the_identity_step(self, address: str, wrong: bool) -> None:
        typed = {**RIGHT, "last_name": "Dupont"} if wrong else RIGHT
        self.run(handlers.check_identity(self.store, self.letter, typed, address, HOLD_RULES, self.now))

    @rule(language=st.sampled_from(["fr", "en"]))
    def the_recipient_switches_language(self, language: Language) -> None:
        changed = self.run(handlers.change_language(self.store, self.letter_id, language, self.now))
        assert changed == (language != self.language)
        self.language_changes += changed
        self.language = language

    @rule()
    def the_unclaimed_sweeper_runs(self) -> None:
        self.run(unclaimed.sweep(self.store, rules=RULES, clock=lambda: self.now))

    @precondition(lambda self: self.letter.first_notice_at is not None)
    @rule(minutes=st.integers(-90, 90))
    def time_passes_to_about_the_window_s_close(self, minutes: int) -> None:
        self.now = max(self.now, RULES.window_closes_at(self.letter.deadline) + timedelta(minutes=minutes))

    @rule(minutes=st.integers(1, 60 * 24 * 5))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    # ---------------------------------------------------------------- invariants

    @invariant()
    def never_two_decisions_and_the_state_says_the_one_there_is(self) -> None:
        decisions = self.published(*DECISIONS)
        assert len(decisions) <= 1
        state = {LetterAccepted: "accepted", LetterRefused: "refused", LetterUnclaimed: "unclaimed"}
        assert self.letter.state == (state[type(decisions[0])] if decisions else "awaiting")

    @invariant()
    def the_window_runs_from_the_email_notice_only(self) -> None:
        delivered_email = (
            self.email_notice is not None and self.produced.index(self.email_notice) in self.delivered
        )
        if delivered_email:
            assert self.email_notice is not None
            assert self.letter.first_notice_at == self.email_notice.sent_at
            assert self.letter.deadline == RULES.acceptance_deadline(self.email_notice.sent_at)
        else:
            assert self.letter.first_notice_at is None  # an alert or a reminder starts nothing

    @invariant()
    def a_decision_falls_inside_the_window_and_unclaimed_only_once_it_closed(self) -> None:
        closes = RULES.window_closes_at(self.letter.deadline)
        for decision in self.published(LetterAccepted, LetterRefused):
            moment = decision.accepted_at if isinstance(decision, LetterAccepted) else decision.refused_at
            assert moment < closes
        for expiry in self.published(LetterUnclaimed):
            assert self.email_notice is not None and self.letter.first_notice_at is not None
            assert expiry.window_closed_at == closes <= self.now

    @invariant()
    def the_ar_is_signed_once_and_only_after_the_acceptance(self) -> None:
        signed = self.published(ReceiptSigned)
        assert len(signed) <= 1
        if signed:
            (accepted,) = self.published(LetterAccepted)
            assert isinstance(accepted, LetterAccepted) and isinstance(signed[0], ReceiptSigned)
            assert signed[0].signed_at >= accepted.accepted_at
            assert self.letter.signed_at == signed[0].signed_at

    @invariant()
    def every_hold_ends(self) -> None:
        for stored in (self.letter.identity_holds, self.letter.code_holds):
            latest = Holds.from_json(stored).latest()
            assert latest is None or latest <= self.now + max(HOLD_RULES.delays)

    @invariant()
    def each_message_has_its_effect_once(self) -> None:
        delivered = [self.produced[i] for i in self.delivered]
        assert self.store.letters.notice_failures.get(self.letter_id, 0) == sum(
            isinstance(m, NoticeFailed) for m in delivered
        )
        assert len(self.published(LetterLockLifted)) == sum(isinstance(m, LiftLetterLock) for m in delivered)
        assert len(self.published(SendNotice)) == 2  # the deposit's email and SMS, once
        assert len(self.published(LetterLanguageChanged)) == self.language_changes
        assert self.letter.language == self.language

    @invariant()
    def the_desk_s_latest_decision_stands(self) -> None:
        decided = [
            self.produced[i] for i in self.delivered if isinstance(self.produced[i], VerificationDecided)
        ]
        case = self.store.cases.rows[self.letter_id]
        assert isinstance(case, Case)
        if decided:
            latest = max(decided, key=lambda d: d.decided_at)
            assert isinstance(latest, VerificationDecided)
            assert (case.state, case.case_id) == (CaseState(latest.outcome), latest.case_id)


LetterLifeMachine.TestCase.settings = settings(
    derandomize=True,
    database=None,
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLetterLife = LetterLifeMachine.TestCase
