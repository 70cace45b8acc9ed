"""Pickup use cases: the letter's lifecycle from the recipient's side."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from lre_shared.clock import now_utc
from lre_shared.contracts import (
    Language,
    LetterAccepted,
    LetterDeposited,
    LetterLanguageChanged,
    LetterRefused,
    LockKind,
    NoticeFailed,
    NoticeKind,
    NoticeSent,
    SendNotice,
)
from lre_shared.notices import per_channel
from lre_shared.rules import RulesProfile
from pickup.domain.identity import mismatched_fields
from pickup.domain.letter import LetterView
from pickup.domain.locks import HoldRules, Judgement
from pickup.service_layer import locks
from pickup.service_layer.ports import Storage, UnitOfWork


async def on_letter_deposited(event: LetterDeposited, uow: UnitOfWork, *, rules: RulesProfile) -> None:
    # The window runs from the first notice; until the notifier confirms it, count from now.
    deadline = rules.acceptance_deadline(now_utc())
    await uow.letters.deposit(event, deadline)
    notice = SendNotice(
        correlation_id=event.correlation_id,
        item_number=event.item_number,
        address=event.recipient.email,
        deadline=deadline,
        language=event.recipient.language,
        # The legal notice by email and the alerts the sender asked for, on the recipient's
        # numbers; each channel is its own command, falling back in the letter's order.
        channels=event.alert_channels,
        phone=event.recipient.mobile,
        landline=event.recipient.landline,
        fax=event.recipient.fax,
    )
    for command in per_channel(notice):
        await uow.publish(command)


async def on_notice_sent(event: NoticeSent, uow: UnitOfWork, *, rules: RulesProfile) -> None:
    # CPCE R.53-3: the 15 days run from the day after the first notice, which is the email:
    # an SMS, a call or a fax only alert the recipient (`RulesProfile.window_channels`).
    if event.kind is not NoticeKind.notice or not rules.starts_window(event.channel):
        return
    await uow.letters.first_notice_sent(
        event.correlation_id, event.sent_at, rules.acceptance_deadline(event.sent_at)
    )


async def on_notice_failed(event: NoticeFailed, uow: UnitOfWork) -> None:
    await uow.letters.notice_failed(event.correlation_id)


async def find_by_item_number(storage: Storage, item_number: str) -> LetterView | None:
    return await storage.letters.with_item_number(item_number)


async def find(storage: Storage, letter_id: UUID) -> LetterView | None:
    return await storage.letters.get(letter_id)


async def check_identity(
    storage: Storage,
    letter: LetterView,
    typed: dict[str, str | None],
    address: str,
    rules: HoldRules,
    now: datetime,
) -> tuple[Judgement, list[str]]:
    """Whether the typed identity matches, judged only while no hold keeps `address` out; a
    wrong one counts towards the holds of the address and of the item (`domain.locks`).

    The answer is settled by one conditional update of the letter's row (`locks.answer`):
    however many tries arrive at once they are judged one at a time, and while a hold is in
    force every answer, the right one too, is refused unseen.
    """
    wrong = mismatched_fields(letter.recipient, typed)
    judgement = await locks.answer(
        storage, letter.letter_id, LockKind.identity, address, bool(wrong), rules, now, letter.identity_holds
    )
    return judgement, wrong if judgement.judged else []


async def change_language(storage: Storage, letter_id: UUID, language: Language, now: datetime) -> bool:
    """The recipient switched the site's language on the letter's pages: keep it for the letter
    and tell the notifier (reminders) and the desk (codes). False when it was already that."""
    async with storage.unit_of_work() as uow:
        item_number = await uow.letters.change_language(letter_id, language)
        if item_number is None:
            return False
        await uow.publish(
            LetterLanguageChanged(
                correlation_id=letter_id, item_number=item_number, language=language, changed_at=now
            ),
        )
    return True


class DecisionRefused(Exception):
    """The letter cannot be decided now; the message says why."""


async def decide(
    storage: Storage, letter_id: UUID, accept: bool, rules: RulesProfile, now: datetime | None = None
) -> LetterView:
    now = now or now_utc()
    async with storage.unit_of_work() as uow:
        letter = await uow.letters.get(letter_id, for_update=True)
        if letter is None:
            raise DecisionRefused("unknown letter")
        if letter.state != "awaiting":
            raise DecisionRefused("already decided")
        if now >= rules.window_closes_at(letter.deadline):
            raise DecisionRefused("window closed")
        await uow.letters.decide(letter_id, "accepted" if accept else "refused", now)
        if accept:
            await uow.publish(
                LetterAccepted(correlation_id=letter_id, item_number=letter.item_number, accepted_at=now)
            )
        else:
            await uow.publish(
                LetterRefused(correlation_id=letter_id, item_number=letter.item_number, refused_at=now)
            )
    found = await find(storage, letter_id)
    assert found is not None
    return found
