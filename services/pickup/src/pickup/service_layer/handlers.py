"""Pickup use cases: the letter's lifecycle from the recipient's side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from lre_shared.bus import Transaction
from lre_shared.messages import (
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
    SignatureMethod,
    now_utc,
)
from lre_shared.notices import per_channel
from lre_shared.outbox import enqueue
from lre_shared.rules import RulesProfile
from pickup.domain.identity import mismatched_fields
from pickup.domain.locks import HoldRules, Judgement
from pickup.service_layer import locks


async def on_letter_deposited(event: LetterDeposited, tx: Transaction, *, rules: RulesProfile) -> None:
    # The window runs from the first notice; until the notifier confirms it, count from now.
    deadline = rules.acceptance_deadline(now_utc())
    await tx.conn.execute(
        "INSERT INTO letters (letter_id, item_number, state, recipient, sender, documents,"
        " deposited_at, deadline, signature_methods, language)"
        " VALUES ($1, $2, 'awaiting', $3::jsonb, $4::jsonb, $5::jsonb, $6, $7, $8, $9)",
        event.correlation_id,
        event.item_number,
        event.recipient.model_dump_json(),
        event.sender.model_dump_json(),
        json.dumps([json.loads(d.model_dump_json()) for d in event.documents]),
        event.deposited_at,
        deadline,
        [str(method) for method in event.signature_methods],
        event.recipient.language,
    )
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
        await tx.publish(command)


async def on_notice_sent(event: NoticeSent, tx: Transaction, *, rules: RulesProfile) -> None:
    # CPCE R.53-3: the 15 days run from the day after the first notice, which is the email:
    # an SMS, a call or a fax only alert the recipient (`RulesProfile.window_channels`).
    if event.kind is not NoticeKind.notice or not rules.starts_window(event.channel):
        return
    await tx.conn.execute(
        "UPDATE letters SET first_notice_at = $2, deadline = $3"
        " WHERE letter_id = $1 AND first_notice_at IS NULL",
        event.correlation_id,
        event.sent_at,
        rules.acceptance_deadline(event.sent_at),
    )


async def on_notice_failed(event: NoticeFailed, tx: Transaction) -> None:
    await tx.conn.execute(
        "UPDATE letters SET notice_failures = notice_failures + 1 WHERE letter_id = $1",
        event.correlation_id,
    )


@dataclass(frozen=True)
class LetterView:
    letter_id: UUID
    item_number: str
    state: str
    recipient: dict[str, Any]
    sender: dict[str, Any]
    documents: list[dict[str, Any]]
    deposited_at: datetime
    deadline: date
    decided_at: datetime | None
    identity_failures: int
    signature_methods: tuple[SignatureMethod, ...]
    signed_at: datetime | None
    code_failures: int
    first_notice_at: datetime | None
    # The holds after wrong answers, as stored (`pickup.domain.locks`), by kind.
    identity_holds: str = "{}"
    code_holds: str = "{}"
    language: Language = "fr"  # the recipient's: notices, reminders and codes go in it

    @property
    def recipient_name(self) -> str:
        return f"{self.recipient.get('first_name', '')} {self.recipient.get('last_name', '')}".strip()


def _view(row: asyncpg.Record) -> LetterView:
    return LetterView(
        letter_id=row["letter_id"],
        item_number=row["item_number"],
        state=row["state"],
        recipient=json.loads(row["recipient"]),
        sender=json.loads(row["sender"]),
        documents=json.loads(row["documents"]),
        deposited_at=row["deposited_at"],
        deadline=row["deadline"],
        decided_at=row["decided_at"],
        identity_failures=row["identity_failures"],
        signature_methods=tuple(SignatureMethod(m) for m in row["signature_methods"]),
        signed_at=row["signed_at"],
        code_failures=row["code_failures"],
        first_notice_at=row["first_notice_at"],
        identity_holds=row["identity_holds"],
        code_holds=row["code_holds"],
        language="en" if row["language"] == "en" else "fr",
    )


_SELECT = (
    "SELECT letter_id, item_number, state, recipient::text AS recipient, sender::text AS sender,"
    " documents::text AS documents, deposited_at, deadline, decided_at, identity_failures,"
    " signature_methods, signed_at, code_failures, first_notice_at,"
    " identity_holds::text AS identity_holds, code_holds::text AS code_holds, language FROM letters"
)


async def find_by_item_number(pool: asyncpg.Pool, item_number: str) -> LetterView | None:
    row = await pool.fetchrow(_SELECT + " WHERE item_number = $1", item_number)
    return None if row is None else _view(row)


async def find(pool: asyncpg.Pool, letter_id: UUID) -> LetterView | None:
    row = await pool.fetchrow(_SELECT + " WHERE letter_id = $1", letter_id)
    return None if row is None else _view(row)


async def check_identity(
    pool: asyncpg.Pool,
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
        pool, letter.letter_id, LockKind.identity, address, bool(wrong), rules, now, letter.identity_holds
    )
    return judgement, wrong if judgement.judged else []


async def change_language(pool: asyncpg.Pool, letter_id: UUID, language: Language, now: datetime) -> bool:
    """The recipient switched the site's language on the letter's pages: keep it for the letter
    and tell the notifier (reminders) and the desk (codes). False when it was already that."""
    async with pool.acquire() as conn, conn.transaction():
        item_number = await conn.fetchval(
            "UPDATE letters SET language = $2 WHERE letter_id = $1 AND language <> $2 RETURNING item_number",
            letter_id,
            language,
        )
        if item_number is None:
            return False
        await enqueue(
            conn,
            LetterLanguageChanged(
                correlation_id=letter_id, item_number=item_number, language=language, changed_at=now
            ),
        )
    return True


class DecisionRefused(Exception):
    """The letter cannot be decided now; the message says why."""


async def decide(
    pool: asyncpg.Pool, letter_id: UUID, accept: bool, rules: RulesProfile, now: datetime | None = None
) -> LetterView:
    now = now or now_utc()
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(_SELECT + " WHERE letter_id = $1 FOR UPDATE", letter_id)
        if row is None:
            raise DecisionRefused("unknown letter")
        letter = _view(row)
        if letter.state != "awaiting":
            raise DecisionRefused("already decided")
        if now >= rules.window_closes_at(letter.deadline):
            raise DecisionRefused("window closed")
        state = "accepted" if accept else "refused"
        await conn.execute(
            "UPDATE letters SET state = $2, decided_at = $3 WHERE letter_id = $1",
            letter_id,
            state,
            now,
        )
        if accept:
            await enqueue(
                conn,
                LetterAccepted(correlation_id=letter_id, item_number=letter.item_number, accepted_at=now),
            )
        else:
            await enqueue(
                conn,
                LetterRefused(correlation_id=letter_id, item_number=letter.item_number, refused_at=now),
            )
    found = await find(pool, letter_id)
    assert found is not None
    return found
