"""The desk's other records in PostgreSQL: audit trails, identity documents, the triage list,
one-time codes and phone callbacks (the unit of work is in `adapters.postgres`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from lre_shared.units import PgRepository, columns, fetch_all, fetch_one, insert
from verification.domain.cases import Callback, CodeOrder, ExpiredDocument, NewDocument, TriageEntry
from verification.domain.codes import StoredCode
from verification.service_layer.ports import TriageStatus

# Advisory lock class of a letter's codes (the second key is the letter's hash): issuing is
# serialised per letter, so throttling counts every code and one code at most is live.
_CODES_LOCK = 0x434F4445  # "CODE"


def _event(**row: Any) -> dict[str, Any]:
    return row | {"detail": json.loads(row["detail"])}


class PgCaseEvents(PgRepository):
    async def record(self, case_id: UUID, actor: str, action: str, at: datetime, **detail: Any) -> None:
        await self.conn.execute(
            "INSERT INTO case_events (case_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5::jsonb)",
            case_id,
            at,
            actor,
            action,
            json.dumps(detail, default=str),
        )

    async def trail(self, case_id: UUID) -> list[dict[str, Any]]:
        return await fetch_all(
            self.conn,
            _event,
            "SELECT event_id, at, actor, action, detail FROM case_events WHERE case_id = $1"
            " ORDER BY event_id",
            case_id,
        )


class PgLetterEvents(PgRepository):
    async def record(
        self, letter_id: UUID, item_number: str, at: datetime, actor: str, action: str, detail: dict[str, Any]
    ) -> None:
        await self.conn.execute(
            "INSERT INTO letter_events (letter_id, item_number, at, actor, action, detail)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
            letter_id,
            item_number,
            at,
            actor,
            action,
            json.dumps(detail),
        )

    async def trail(self, item_number: str) -> list[dict[str, Any]]:
        return await fetch_all(
            self.conn,
            _event,
            "SELECT event_id, letter_id, at, actor, action, detail FROM letter_events WHERE item_number = $1"
            " ORDER BY event_id",
            item_number,
        )


class PgDocuments(PgRepository):
    async def add(self, document: NewDocument) -> None:
        await insert(self.conn, "documents", columns(document))

    async def of_case(self, case_id: UUID) -> list[dict[str, Any]]:
        return await fetch_all(
            self.conn,
            dict,
            "SELECT document_id, channel, filename, content_type, size, sha256, received_at, deleted_at"
            " FROM documents WHERE case_id = $1 ORDER BY received_at",
            case_id,
        )

    async def viewable(self, document_id: UUID) -> dict[str, Any] | None:
        return await fetch_one(
            self.conn,
            dict,
            "SELECT document_id, case_id, filename, content_type, object_key FROM documents"
            " WHERE document_id = $1 AND deleted_at IS NULL",
            document_id,
        )

    async def move_from_triage(self, triage_id: UUID, case_id: UUID) -> list[UUID]:
        rows = await self.conn.fetch(
            "UPDATE documents SET case_id = $2 WHERE triage_id = $1 AND deleted_at IS NULL"
            " RETURNING document_id",
            triage_id,
            case_id,
        )
        return [row[0] for row in rows]

    async def past_retention(
        self, decided_before: datetime, received_before: datetime
    ) -> list[ExpiredDocument]:
        return await fetch_all(
            self.conn,
            ExpiredDocument,
            "SELECT d.document_id, d.case_id, d.object_key FROM documents d"
            " LEFT JOIN cases c ON c.case_id = d.case_id"
            " WHERE d.deleted_at IS NULL AND ("
            "   (c.state IN ('approved', 'rejected') AND c.decided_at <= $1)"
            "   OR (d.case_id IS NULL AND d.received_at <= $1)"
            "   OR d.received_at <= $2)"
            " LIMIT 1000",
            decided_before,
            received_before,
        )

    async def mark_deleted(self, document_id: UUID, now: datetime) -> bool:
        marked = await self.conn.execute(
            "UPDATE documents SET deleted_at = $2 WHERE document_id = $1 AND deleted_at IS NULL",
            document_id,
            now,
        )
        return bool(marked != "UPDATE 0")


class PgTriage(PgRepository):
    async def add(self, entry: TriageEntry) -> None:
        await insert(self.conn, "triage", columns(entry))

    async def entries(self) -> list[dict[str, Any]]:
        return await fetch_all(
            self.conn,
            dict,
            "SELECT t.triage_id, t.channel, t.sender, t.subject, t.excerpt, t.problem, t.received_at,"
            " t.assigned_to, t.assigned_by, t.assigned_at,"
            " (SELECT count(*) FROM documents d WHERE d.triage_id = t.triage_id AND d.deleted_at IS NULL)"
            " AS documents"
            " FROM triage t ORDER BY t.assigned_at IS NOT NULL, t.received_at LIMIT 500",
        )

    async def status(self, triage_id: UUID) -> TriageStatus:
        row = await self.conn.fetchrow(
            "SELECT assigned_to FROM triage WHERE triage_id = $1 FOR UPDATE", triage_id
        )
        if row is None:
            return "unknown"
        return "open" if row["assigned_to"] is None else "assigned"

    async def assign(self, triage_id: UUID, case_id: UUID, agent: str, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE triage SET assigned_to = $2, assigned_by = $3, assigned_at = $4 WHERE triage_id = $1",
            triage_id,
            case_id,
            agent,
            now,
        )


def _stored(row: asyncpg.Record) -> StoredCode:
    return StoredCode(
        code_id=row["code_id"],
        letter_id=row["letter_id"],
        code_hmac=bytes(row["code_hmac"]),
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        tries=row["tries"],
        used_at=row["used_at"],
        invalidated_at=row["invalidated_at"],
    )


class PgCodes(PgRepository):
    async def serialise(self, letter_id: UUID) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _CODES_LOCK, str(letter_id))

    async def latest(self, letter_id: UUID) -> tuple[StoredCode, CodeOrder] | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM codes WHERE letter_id = $1 ORDER BY issued_at DESC LIMIT 1", letter_id
        )
        if row is None:
            return None
        order = CodeOrder(
            row["case_id"],
            row["letter_id"],
            row["item_number"],
            row["channel"],
            row["address"],
            row["language"],
        )
        return _stored(row), order

    async def get(self, code_id: UUID) -> StoredCode:
        return _stored(await self.conn.fetchrow("SELECT * FROM codes WHERE code_id = $1", code_id))

    async def issued_since(self, letter_id: UUID, since: datetime) -> Sequence[datetime]:
        rows = await self.conn.fetch(
            "SELECT issued_at FROM codes WHERE letter_id = $1 AND issued_at > $2 AND send_failed_at IS NULL",
            letter_id,
            since,
        )
        return [row["issued_at"] for row in rows]

    async def replace_live(self, letter_id: UUID, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE codes SET invalidated_at = $2"
            " WHERE letter_id = $1 AND used_at IS NULL AND invalidated_at IS NULL",
            letter_id,
            now,
        )

    async def add(
        self, order: CodeOrder, code_id: UUID, code_hmac: bytes, issued_at: datetime, expires_at: datetime
    ) -> None:
        # The order's columns (its letter first, as the table has them), then the code's own.
        code = {
            "code_id": code_id,
            "letter_id": order.letter_id,
            **columns(order),
            "code_hmac": code_hmac,
            "issued_at": issued_at,
            "expires_at": expires_at,
        }
        await insert(self.conn, "codes", code)

    async def spend(self, code_id: UUID, now: datetime) -> UUID | None:
        case_id: UUID | None = await self.conn.fetchval(
            "UPDATE codes SET used_at = $2 WHERE code_id = $1"
            " AND used_at IS NULL AND invalidated_at IS NULL AND expires_at > $2 RETURNING case_id",
            code_id,
            now,
        )
        return case_id

    async def count_wrong_try(self, code_id: UUID, now: datetime, max_tries: int) -> int | None:
        tries: int | None = await self.conn.fetchval(
            "UPDATE codes SET tries = tries + 1, invalidated_at = CASE WHEN tries + 1 >= $3 THEN $2 END"
            " WHERE code_id = $1 AND used_at IS NULL AND invalidated_at IS NULL AND expires_at > $2"
            " RETURNING tries",
            code_id,
            now,
            max_tries,
        )
        return tries

    async def void_unsent(self, code_id: UUID, at: datetime, reason: str) -> None:
        await self.conn.execute(
            "UPDATE codes SET send_failed_at = $2, send_failure = $3,"
            " invalidated_at = coalesce(invalidated_at, $2) WHERE code_id = $1",
            code_id,
            at,
            reason,
        )


class PgCallbacks(PgRepository):
    async def log(self, callback: Callback) -> None:
        await insert(self.conn, "callbacks", columns(callback))

    async def of_case(self, case_id: UUID) -> list[dict[str, Any]]:
        return await fetch_all(
            self.conn,
            dict,
            "SELECT callback_id, number, called_at, outcome, agent FROM callbacks WHERE case_id = $1"
            " ORDER BY called_at",
            case_id,
        )
