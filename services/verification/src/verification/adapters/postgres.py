"""The desk's store in PostgreSQL: letters and verification cases here, the rest in
`adapters.records`, all in one unit of work over one transaction and its outbox.

The bus opens the transaction of a message's handler (`unit_of_work(tx)`); the desk's HTTP
API, inbound mail and MMS and the retention sweeper open their own (`units_of_work`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from lre_shared import units
from lre_shared.units import PgRepository, Transactions, columns, fetch_all, fetch_one, insert
from verification.adapters.records import (
    PgCallbacks,
    PgCaseEvents,
    PgCodes,
    PgDocuments,
    PgLetterEvents,
    PgTriage,
)
from verification.domain.cases import (
    WAITING,
    Case,
    Channels,
    CodeChannel,
    Decision,
    Language,
    Letter,
    Recipient,
)

CASE_COLUMNS = (
    "case_id, letter_id, item_number, reference, policy, state, document_channel, code_channel,"
    " code_address, language, opened_at, pending_since, claimed_by, claimed_at, decided_at, decided_by,"
    " decision, reason, checklist"
)

# A case waiting for documents ($2, the states of `WAITING`) goes back to the agents' queue,
# pending since $3; in any other state it stays as it is.
_TO_QUEUE = (
    "state = CASE WHEN state = ANY($2::text[]) THEN 'pending' ELSE state END,"
    " pending_since = CASE WHEN state = ANY($2::text[]) THEN $3 ELSE pending_since END"
)


def _case(**values: Any) -> Case:
    values["checklist"] = json.loads(values["checklist"])
    return Case(**values)


class PgLetters(PgRepository):
    async def learn(self, letter_id: UUID, item_number: str, policy: str, recipient: Recipient) -> None:
        declared = {f"recipient_{name}": value for name, value in columns(recipient).items()}
        await insert(
            self.conn,
            "letters",
            {"letter_id": letter_id, "item_number": item_number, "policy": policy, **declared},
            then="ON CONFLICT (letter_id) DO NOTHING",
        )

    async def set_status(self, letter_id: UUID, status: Literal["accepted", "refused"]) -> None:
        await self.conn.execute("UPDATE letters SET status = $2 WHERE letter_id = $1", letter_id, status)

    async def _lock_codes(self, letter_id: UUID, at: datetime, until: str, *args: object) -> None:
        # The letter's codes locked `until` (an SQL expression written in this module, never a
        # caller's value) as of `at` ($2), unless a change of a later time came first.
        await self.conn.execute(
            f"UPDATE letters SET codes_locked_until = {until}, codes_lock_changed_at = $2"  # noqa: S608
            " WHERE letter_id = $1 AND (codes_lock_changed_at IS NULL OR codes_lock_changed_at <= $2)",
            letter_id,
            at,
            *args,
        )

    async def hold_codes(self, letter_id: UUID, at: datetime, until: datetime) -> None:
        held = "CASE WHEN codes_locked_until > $2 THEN greatest(codes_locked_until, $3) ELSE $3 END"
        await self._lock_codes(letter_id, at, held, until)

    async def release_codes(self, letter_id: UUID, at: datetime) -> None:
        await self._lock_codes(letter_id, at, "NULL")

    async def codes_held_until(self, letter_id: UUID, now: datetime) -> datetime | None:
        until: datetime | None = await self.conn.fetchval(
            "SELECT codes_locked_until FROM letters WHERE letter_id = $1 AND codes_locked_until > $2",
            letter_id,
            now,
        )
        return until

    async def locked(self, letter_id: UUID) -> Letter | None:
        return await fetch_one(
            self.conn,
            Letter,
            "SELECT letter_id, item_number, policy, status, recipient_email, recipient_mobile,"
            " recipient_forgotten_at FROM letters WHERE letter_id = $1 FOR UPDATE",
            letter_id,
        )

    async def declared_address(self, letter_id: UUID, channel: CodeChannel) -> str | None:
        column = "recipient_email" if channel == "email" else "recipient_mobile"
        address: str | None = await self.conn.fetchval(
            f"SELECT {column} FROM letters WHERE letter_id = $1",  # noqa: S608 - one of two constant names
            letter_id,
        )
        return address

    async def recipient(self, letter_id: UUID) -> dict[str, Any] | None:
        return await fetch_one(
            self.conn,
            dict,
            "SELECT recipient_name, recipient_company, recipient_landline, recipient_birth_date,"
            " recipient_forgotten_at FROM letters WHERE letter_id = $1",
            letter_id,
        )

    async def recipient_forgotten_at(self, letter_id: UUID) -> datetime | None:
        at: datetime | None = await self.conn.fetchval(
            "SELECT recipient_forgotten_at FROM letters WHERE letter_id = $1", letter_id
        )
        return at

    async def forget_recipients(
        self, decided_before: datetime, known_before: datetime, now: datetime
    ) -> list[tuple[UUID, list[UUID]]]:
        # One statement, marking as it clears: of two replicas' sweeps, one forgets a letter.
        rows = await self.conn.fetch(
            "WITH due AS ("
            "  SELECT letter_id FROM letters l"
            "  WHERE recipient_forgotten_at IS NULL AND (known_at < $2 OR (known_at < $1 AND NOT EXISTS ("
            "    SELECT 1 FROM cases c WHERE c.letter_id = l.letter_id"
            "    AND c.state NOT IN ('approved', 'rejected'))))"
            "  LIMIT 1000 FOR UPDATE SKIP LOCKED)"
            " UPDATE letters l SET recipient_name = NULL, recipient_company = NULL, recipient_email = NULL,"
            " recipient_mobile = NULL, recipient_landline = NULL, recipient_birth_date = NULL,"
            " recipient_forgotten_at = $3"
            " FROM due WHERE l.letter_id = due.letter_id AND l.recipient_forgotten_at IS NULL"
            " RETURNING l.letter_id,"
            " ARRAY(SELECT case_id FROM cases c WHERE c.letter_id = l.letter_id ORDER BY opened_at) AS cases",
            decided_before,
            known_before,
            now,
        )
        return [(row["letter_id"], list(row["cases"])) for row in rows]

    async def with_item_number(self, item_number: str) -> UUID | None:
        letter_id: UUID | None = await self.conn.fetchval(
            "SELECT letter_id FROM letters WHERE item_number = $1", item_number
        )
        return letter_id


class PgCases(PgRepository):
    async def _one(self, condition: str, *args: object) -> Case | None:
        # Both are this module's constants, never a caller's value.
        query = f"SELECT {CASE_COLUMNS} FROM cases WHERE {condition}"  # noqa: S608
        return await fetch_one(self.conn, _case, query, *args)

    async def get(self, case_id: UUID, *, lock: bool = False) -> Case | None:
        return await self._one("case_id = $1" + (" FOR UPDATE" if lock else ""), case_id)

    async def of_letter(self, case_id: UUID, letter_id: UUID) -> Case | None:
        return await self._one("case_id = $1 AND letter_id = $2 FOR UPDATE", case_id, letter_id)

    async def current(self, letter_id: UUID) -> Case | None:
        return await self._one(
            "letter_id = $1 AND state <> 'rejected' ORDER BY opened_at DESC LIMIT 1 FOR UPDATE", letter_id
        )

    async def last_approved(self, letter_id: UUID) -> Case | None:
        return await self._one(
            "letter_id = $1 AND state = 'approved' ORDER BY decided_at DESC LIMIT 1", letter_id
        )

    async def open_with_reference(self, reference: str) -> Case | None:
        return await self._one(
            "reference = $1 AND state NOT IN ('approved', 'rejected')"
            " ORDER BY opened_at DESC LIMIT 1 FOR UPDATE",
            reference,
        )

    async def open(
        self, case_id: UUID, letter: Letter, channels: Channels, now: datetime, draw: Callable[[], str]
    ) -> Case:
        for _ in range(10):
            try:
                async with self.conn.transaction():  # a savepoint: a taken reference is drawn again
                    row = await self.conn.fetchrow(
                        "INSERT INTO cases (case_id, letter_id, item_number, reference, policy, state,"  # noqa: S608 - constant column list
                        " document_channel, code_channel, code_address, language, opened_at)"
                        " VALUES ($1, $2, $3, $4, $5, 'awaiting_documents', $6, $7, $8, $9, $10)"
                        f" RETURNING {CASE_COLUMNS}",
                        case_id,
                        letter.letter_id,
                        letter.item_number,
                        draw(),
                        letter.policy,
                        channels.document_channel,
                        channels.code_channel,
                        channels.code_address,
                        channels.language,
                        now,
                    )
                return _case(**row)
            except asyncpg.UniqueViolationError:
                continue
        raise RuntimeError("no free case reference after 10 draws")

    async def choose_channels(self, case_id: UUID, channels: Channels) -> Case:
        row = await self.conn.fetchrow(
            "UPDATE cases SET document_channel = $2, code_channel = $3, code_address = $4, language = $5"  # noqa: S608 - constant column list
            f" WHERE case_id = $1 RETURNING {CASE_COLUMNS}",
            case_id,
            channels.document_channel,
            channels.code_channel,
            channels.code_address,
            channels.language,
        )
        return _case(**row)

    async def choose_code_channel(self, case_id: UUID, channel: CodeChannel, address: str) -> None:
        await self.conn.execute(
            "UPDATE cases SET code_channel = $2, code_address = $3 WHERE case_id = $1",
            case_id,
            channel,
            address,
        )

    async def set_language(self, letter_id: UUID, language: Language) -> None:
        await self.conn.execute(
            "UPDATE cases SET language = $2 WHERE letter_id = $1 AND state <> 'rejected'", letter_id, language
        )

    async def language(self, case_id: UUID) -> Language | None:
        language: Language | None = await self.conn.fetchval(
            "SELECT language FROM cases WHERE case_id = $1", case_id
        )
        return language

    async def documents_arrived(self, case_id: UUID, now: datetime) -> str:
        state: str = await self.conn.fetchval(
            f"UPDATE cases SET {_TO_QUEUE} WHERE case_id = $1 RETURNING state",  # noqa: S608 - constant
            case_id,
            list(WAITING),
            now,
        )
        return state

    async def wait_for_agent(self, case_id: UUID, now: datetime, reason: str) -> None:
        await self.conn.execute(
            f"UPDATE cases SET {_TO_QUEUE}, reason = $4 WHERE case_id = $1",  # noqa: S608 - constant
            case_id,
            list(WAITING),
            now,
            reason,
        )

    async def queue(self, state: str | None) -> list[Case]:
        return await fetch_all(
            self.conn,
            _case,
            f"SELECT {CASE_COLUMNS} FROM cases"  # noqa: S608 - constant column list
            " WHERE ($1::text IS NULL AND state NOT IN ('approved', 'rejected')) OR state = $1"
            " ORDER BY coalesce(pending_since, opened_at), opened_at LIMIT 500",
            state,
        )

    async def next_waiting(self, stale_before: datetime) -> UUID | None:
        case_id: UUID | None = await self.conn.fetchval(
            "SELECT case_id FROM cases WHERE state = 'pending' OR (state = 'in_review' AND claimed_at <= $1)"
            " ORDER BY pending_since, opened_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            stale_before,
        )
        return case_id

    async def claim(self, case_id: UUID, agent: str, now: datetime) -> Case:
        row = await self.conn.fetchrow(
            "UPDATE cases SET state = 'in_review', claimed_by = $2, claimed_at = $3"  # noqa: S608 - constant column list
            f" WHERE case_id = $1 RETURNING {CASE_COLUMNS}",
            case_id,
            agent,
            now,
        )
        return _case(**row)

    async def save_checklist(self, case_id: UUID, items: list[dict[str, Any]]) -> None:
        await self.conn.execute(
            "UPDATE cases SET checklist = $2::jsonb WHERE case_id = $1", case_id, json.dumps(items)
        )

    async def decide(self, case_id: UUID, decision: Decision) -> None:
        await self.conn.execute(
            "UPDATE cases SET state = $2, decision = $3, reason = $4, decided_by = $5,"
            " decided_at = CASE WHEN $6 THEN $7 ELSE decided_at END,"
            " claimed_by = CASE WHEN $6 THEN claimed_by END, claimed_at = CASE WHEN $6 THEN claimed_at END"
            " WHERE case_id = $1",
            case_id,
            decision.state,
            decision.outcome,
            decision.reason,
            decision.agent,
            decision.final,
            decision.at,
        )


class PgUnitOfWork(units.PgUnitOfWork):
    """The repositories over the transaction `tx`, and its outbox."""

    letters: PgLetters
    cases: PgCases
    case_events: PgCaseEvents
    documents: PgDocuments
    triage: PgTriage
    codes: PgCodes
    callbacks: PgCallbacks
    letter_events: PgLetterEvents


# The unit of work over the bus's transaction of a message.
unit_of_work = PgUnitOfWork


def units_of_work(pool: Callable[[], asyncpg.Pool]) -> Transactions[PgUnitOfWork]:
    """Units of work of their own, each on a connection of the pool (read when first needed:
    the pool exists once the service started)."""
    return Transactions(PgUnitOfWork, pool)
