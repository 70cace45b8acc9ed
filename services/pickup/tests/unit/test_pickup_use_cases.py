"""The pickup use cases on in-memory records: deciding, sweeping, holds after wrong answers,
their lift, sessions, per-address limits and signed ARs kept for another check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import pytest

from lre_shared.contracts import (
    CheckSignedReceipt,
    LetterAccepted,
    LetterLocked,
    LetterLockLifted,
    LetterRefused,
    LetterUnclaimed,
    LiftLetterLock,
    LockKind,
    Message,
    ReceiptSigned,
    SignatureMethod,
)
from lre_shared.rules import FR_LRE
from pickup.domain.locks import HoldRules, Holds
from pickup.service_layer import handlers, limits, locks, sessions, signature, unclaimed
from pickup.service_layer.handlers import DecisionRefused
from pickup.service_layer.limits import AddressLimits, Guess
from pickup.service_layer.ports import ServiceUnavailable
from services.pickup.tests.unit.fakes import FakeStorage, a_letter

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STRANGER = "203.0.113.7"
R = TypeVar("R", bound=Message)


async def test_an_acceptance_is_recorded_and_announced_once() -> None:
    storage = FakeStorage()
    letter = storage.letters.add(a_letter())

    decided = await handlers.decide(storage, letter.letter_id, True, FR_LRE, NOW)

    assert decided.state == "accepted"
    assert [type(m) for m in storage.published] == [LetterAccepted]
    with pytest.raises(DecisionRefused, match="already decided"):
        await handlers.decide(storage, letter.letter_id, False, FR_LRE, NOW)
    assert [type(m) for m in storage.published] == [LetterAccepted]


async def test_a_refusal_after_the_window_closed_is_refused() -> None:
    storage = FakeStorage()
    letter = storage.letters.add(a_letter(deadline=date(2026, 3, 1)))

    with pytest.raises(DecisionRefused, match="window closed"):
        await handlers.decide(storage, letter.letter_id, False, FR_LRE, NOW)

    assert storage.published == []
    refused = storage.letters.add(a_letter())
    await handlers.decide(storage, refused.letter_id, False, FR_LRE, NOW)
    assert [type(m) for m in storage.published] == [LetterRefused]


async def test_the_sweep_marks_only_letters_past_their_window_whose_notice_left() -> None:
    storage = FakeStorage()
    due = storage.letters.add(a_letter(deadline=date(2026, 3, 1)))
    storage.letters.add(a_letter(deadline=date(2026, 3, 1), first_notice_at=None))  # never told
    storage.letters.add(a_letter(deadline=date(2026, 3, 2)))  # its last day

    marked = await unclaimed.sweep(storage, rules=FR_LRE, clock=lambda: NOW)

    assert marked == 1
    assert storage.letters.rows[due.letter_id].state == "unclaimed"
    assert [(type(m), m.correlation_id) for m in storage.published] == [(LetterUnclaimed, due.letter_id)]
    assert await unclaimed.sweep(storage, rules=FR_LRE, clock=lambda: NOW) == 0


async def test_wrong_answers_from_one_address_hold_it_and_announce_the_hold() -> None:
    storage = FakeStorage()
    letter = storage.letters.add(a_letter())
    rules = HoldRules(max_failures=3)

    for _ in range(3):
        judgement = await locks.answer(storage, letter.letter_id, LockKind.code, STRANGER, True, rules, NOW)

    assert judgement.held_until == NOW + timedelta(minutes=15)
    assert storage.letters.rows[letter.letter_id].code_failures == 3
    [locked] = storage.published
    assert isinstance(locked, LetterLocked)
    assert (locked.kind, locked.scope, locked.locked_until) == (
        LockKind.code,
        "address",
        judgement.held_until,
    )
    held = await locks.answer(storage, letter.letter_id, LockKind.code, STRANGER, False, rules, NOW)
    assert not held.judged


async def test_a_supervisor_lifts_the_holds_and_the_lift_names_the_latest_one() -> None:
    storage = FakeStorage()
    letter = storage.letters.add(a_letter())
    for _ in range(5):
        await locks.answer(
            storage, letter.letter_id, LockKind.identity, STRANGER, True, HoldRules(max_failures=5), NOW
        )
    uow = storage.bus_unit_of_work()
    command = LiftLetterLock(
        correlation_id=letter.letter_id,
        item_number=letter.item_number,
        kinds=(LockKind.identity, LockKind.identity),
        supervisor="supervisor-1",
        reason="the recipient called",
        requested_at=NOW,
    )

    await locks.on_lift_letter_lock(command, uow, clock=lambda: NOW)

    assert Holds.from_json(storage.letters.rows[letter.letter_id].identity_holds) == Holds()
    [lifted] = uow.published
    assert isinstance(lifted, LetterLockLifted)
    assert lifted.kinds == (LockKind.identity,)
    assert lifted.locked_until == NOW + timedelta(minutes=15)


async def test_a_new_session_ends_the_one_it_replaces_and_an_idle_one_is_not_live() -> None:
    storage = FakeStorage()
    idle = timedelta(minutes=15)
    first = await sessions.begin(storage, idle)
    second = await sessions.begin(storage, idle, previous=first)

    assert not await sessions.live(storage, first, idle)
    assert await sessions.live(storage, second, idle)
    storage.sessions.now += timedelta(minutes=16)
    assert not await sessions.live(storage, second, idle)


async def test_an_address_is_locked_out_at_its_last_allowed_wrong_answer() -> None:
    storage = FakeStorage()
    rules = AddressLimits(max_failures=3, window=timedelta(minutes=15), lockout=timedelta(minutes=15))

    results = [
        await limits.record_failure(storage, Guess.item_number, STRANGER, rules, NOW) for _ in range(3)
    ]

    assert results == [None, None, NOW + timedelta(minutes=15)]
    assert await limits.locked_until(storage, Guess.item_number, STRANGER, NOW) == NOW + timedelta(minutes=15)
    assert await limits.locked_until(storage, Guess.identity, STRANGER, NOW) is None


class Signer:
    """The signer's check of a signed AR: each answer in turn, None for one outlasting the wait."""

    def __init__(self, *accepted: bool | None) -> None:
        self.answers = list(accepted)

    async def ask(self, query: Message, answer: type[R]) -> R:
        assert isinstance(query, CheckSignedReceipt)
        accepted = self.answers.pop(0)
        if accepted is None:
            raise ServiceUnavailable("the signer's check")
        return answer.model_validate(
            {
                "correlation_id": query.correlation_id,
                "accepted": accepted,
                "detail": "",
                "signer_name": "C. M.",
            }
        )


async def test_a_signed_ar_whose_check_outlasts_the_wait_is_kept_until_the_checks_outcome() -> None:
    storage = FakeStorage()
    letter = storage.letters.add(a_letter(state="accepted"))
    signer = Signer(None, False, None, True)

    with pytest.raises(ServiceUnavailable):
        await signature.sign_with_certificate(storage, signer, letter, b"%PDF-1", NOW)
    assert await signature.receipt_in_check(storage, letter.letter_id)
    refused = await signature.sign_with_certificate(storage, signer, letter, b"%PDF-1", NOW)
    assert not refused.accepted
    assert await signature.kept_receipt(storage, letter.letter_id) is None  # an outcome: uploaded again
    with pytest.raises(ServiceUnavailable):
        await signature.sign_with_certificate(storage, signer, letter, b"%PDF-2", NOW)
    kept = await signature.kept_receipt(storage, letter.letter_id)
    assert kept == b"%PDF-2"
    assert (await signature.sign_with_certificate(storage, signer, letter, kept, NOW)).accepted
    assert not await signature.receipt_in_check(storage, letter.letter_id)
    assert [type(m) for m in storage.published] == [ReceiptSigned]


async def test_a_signed_ar_kept_for_another_check_goes_with_any_signature_or_after_some_hours() -> None:
    storage = FakeStorage()
    coded, late = storage.letters.add(a_letter(state="accepted")), storage.letters.add(a_letter())
    for letter in (coded, late):
        await storage.receipts_in_check.keep(letter.letter_id, b"%PDF-1", NOW)

    await signature.record_signature(storage, coded.letter_id, SignatureMethod.one_time_code, "C. M.")
    assert not await signature.receipt_in_check(storage, coded.letter_id)
    await signature.forget_receipts_in_check(storage, NOW + signature.KEPT_FOR_CHECK)
    assert await signature.receipt_in_check(storage, late.letter_id)
    await signature.forget_receipts_in_check(storage, NOW + signature.KEPT_FOR_CHECK + timedelta(seconds=1))
    assert not await signature.receipt_in_check(storage, late.letter_id)
