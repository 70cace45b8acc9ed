"""No one-time code goes out while the pickup site holds the letter's codes after wrong ones
(`LetterLocked`): neither on approval nor on the recipient's request, who is told until when;
once the hold is lifted (`LetterLockLifted`) the code of the approved case goes out."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from lre_shared.bus import Transaction
from lre_shared.contracts import LetterLocked, LetterLockLifted, LockKind, SendCode
from services.verification.tests.integration.test_codes import ADDRESS, Desk, desk
from verification.adapters.postgres import unit_of_work
from verification.domain.cases import CodeOrder
from verification.service_layer import codes, handlers

pytestmark = pytest.mark.integration
__all__ = ["desk"]


async def held_letter(desk: Desk, minutes: int = 15) -> tuple[uuid.UUID, str]:
    """A letter the pickup site holds for codes, as its `LetterLocked` leaves it here."""
    letter_id, item_number = uuid.uuid4(), f"{uuid.uuid4().int % 10**12:012d}"
    await desk.pool.execute(
        "INSERT INTO letters (letter_id, item_number, policy, recipient_name)"
        " VALUES ($1, $2, 'default', 'Camille Martin')",
        letter_id,
        item_number,
    )
    locked = LetterLocked(
        correlation_id=letter_id,
        item_number=item_number,
        kind=LockKind.code,
        scope="address",
        locked_at=desk.clock.now,
        locked_until=desk.clock.now + timedelta(minutes=minutes),
    )
    async with desk.pool.acquire() as conn, conn.transaction():
        await handlers.on_letter_locked(locked, unit_of_work(Transaction(conn)))
    return letter_id, item_number


async def test_no_code_is_sent_on_approval_or_request_while_the_letters_codes_are_held(desk: Desk) -> None:
    letter_id, item_number = await held_letter(desk)
    async with desk.pool.acquire() as conn, conn.transaction():
        issued = await codes.issue_code(
            unit_of_work(Transaction(conn)),
            CodeOrder(
                case_id=uuid.uuid4(),
                letter_id=letter_id,
                item_number=item_number,
                channel="email",
                address=ADDRESS,
                language="fr",
            ),
            settings=desk.settings,
            now=desk.clock(),
        )
    requested = await desk.request(letter_id)

    assert issued is None
    assert requested.issued is False
    assert requested.locked_until == desk.clock.now + timedelta(minutes=15)
    assert desk.probe.of(SendCode.routing_key, letter_id) == []
    assert await desk.pool.fetchval("SELECT count(*) FROM codes WHERE letter_id = $1", letter_id) == 0


async def test_once_the_hold_is_lifted_the_approved_case_gets_its_code_on_request(desk: Desk) -> None:
    letter_id, item_number = await held_letter(desk)
    case_id = uuid.uuid4()
    await desk.pool.execute(
        "INSERT INTO cases (case_id, letter_id, item_number, reference, policy, state, document_channel,"
        " code_channel, code_address, language, opened_at, decided_at)"
        " VALUES ($1, $2, $3, $4, 'default', 'approved', 'upload', 'email', $5, 'fr', $6, $6)",
        case_id,
        letter_id,
        item_number,
        f"LRE-{uuid.uuid4().hex[:6].upper()}",
        ADDRESS,
        desk.clock.now,
    )
    lifted = LetterLockLifted(
        correlation_id=letter_id,
        item_number=item_number,
        kinds=(LockKind.code,),
        supervisor="carol",
        reason="recipient called",
        lifted_at=desk.clock.now + timedelta(seconds=1),
    )
    async with desk.pool.acquire() as conn, conn.transaction():
        await handlers.on_letter_lock_lifted(lifted, unit_of_work(Transaction(conn)))

    requested = await desk.request(letter_id)

    assert requested.issued is True
    [command] = await desk.sent(letter_id)
    assert command.address == ADDRESS
