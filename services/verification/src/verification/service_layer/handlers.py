"""What the desk learns from other services' events.

The desk needs, for any letter a recipient may later ask a one-time code for, the
verification policy the sender chose (`default` or `cnb`), whom to expect (their name and,
when the sender declared it, their birth date) and where they may receive a code: it learns
all of it when the letter is deposited, and the letter's fate from the pickup site's decisions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lre_shared.contracts import (
    CodeFailed,
    LetterAccepted,
    LetterDeposited,
    LetterLanguageChanged,
    LetterLocked,
    LetterLockLifted,
    LetterRefused,
    LockKind,
    Message,
)
from verification.domain.cases import Recipient
from verification.service_layer import codes
from verification.service_layer.ports import UnitOfWork


async def on_letter_deposited(event: LetterDeposited, uow: UnitOfWork) -> None:
    recipient = event.recipient
    await uow.letters.learn(
        event.correlation_id,
        event.item_number,
        event.verification_policy,
        Recipient(
            name=f"{recipient.first_name} {recipient.last_name}",
            company=recipient.company,
            email=str(recipient.email),
            mobile=recipient.mobile,
            landline=recipient.landline,
            birth_date=recipient.birth_date,
        ),
    )


async def on_letter_language_changed(event: LetterLanguageChanged, uow: UnitOfWork) -> None:
    """Codes still to come for the letter go in the language the recipient last chose."""
    await uow.cases.set_language(event.correlation_id, event.language)


async def on_letter_accepted(event: LetterAccepted, uow: UnitOfWork) -> None:
    await uow.letters.set_status(event.correlation_id, "accepted")


async def on_letter_refused(event: LetterRefused, uow: UnitOfWork) -> None:
    await uow.letters.set_status(event.correlation_id, "refused")


# Lock events come on two queues and may arrive out of order: each applies only if it is not
# older than the latest one applied.


async def on_letter_locked(event: LetterLocked, uow: UnitOfWork) -> None:
    """Wrong codes held the letter's codes (for an address or for everyone): no code is sent
    until the hold ends, so that none goes out that could not be used."""
    if event.kind is not LockKind.code:
        return
    await uow.letters.hold_codes(event.correlation_id, event.locked_at, event.locked_until)


async def on_letter_lock_lifted(event: LetterLockLifted, uow: UnitOfWork) -> None:
    if LockKind.code not in event.kinds:
        return
    await uow.letters.release_codes(event.correlation_id, event.lifted_at)


# The events the desk subscribes to, each with its handler.
EVENTS: tuple[tuple[type[Message], Callable[[Any, UnitOfWork], Awaitable[None]]], ...] = (
    (LetterDeposited, on_letter_deposited),
    (LetterAccepted, on_letter_accepted),
    (LetterRefused, on_letter_refused),
    # The pickup site's holds on a letter's codes: no code is sent while one lasts.
    (LetterLocked, on_letter_locked),
    (LetterLockLifted, on_letter_lock_lifted),
    (LetterLanguageChanged, on_letter_language_changed),
    # A code the notifier could not send is void and not counted: the recipient picks another channel.
    (CodeFailed, codes.on_code_failed),
)
