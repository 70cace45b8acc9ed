"""The archive's records in PostgreSQL: the repositories of `archive.service_layer.ports`, and
the unit of work that holds them with the outbox in one transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from archive.adapters.consents import PgConsents
from archive.adapters.sender_streams import PgSenderStreams
from archive.service_layer.ports import (
    AvailableDocument,
    Clash,
    ContentState,
    CurrentEnvelope,
    DueContent,
    EarlierDeposit,
    ExpiryFacts,
    GrantedUpload,
    Handover,
    LetterFacts,
    RecordedRejection,
    StoredObject,
    UploadObject,
    UploadRecord,
    ZipState,
)
from lre_shared import units
from lre_shared.contracts import LetterDeposited, LetterRejected, Message, Problem, StoredDocument
from lre_shared.outbox import NOTIFY_CHANNEL
from lre_shared.units import PgRepository, Transactions, columns, fetch_all, fetch_one, insert

LETTER_FACTS = (
    "SELECT letter_id, item_number, deposited_at, first_notice_at, accepted_at, refused_at,"
    " receipt_signed_at, unclaimed_at, handed_over_at, content_deleted_at, content_expires_at"
    " FROM letters WHERE sender_id = $1"
)
REJECTIONS = "SELECT letter_id, problems, rejected_at FROM rejections WHERE sender_id = $1"
LATEST = " ORDER BY rejected_at DESC LIMIT 1"
EXPIRY_FACTS = (
    "SELECT letter_id, window_closes_at, accepted_at, receipt_signed_at, content_expires_at"
    " FROM letters WHERE content_deleted_at IS NULL"
)


def _content_state(row: asyncpg.Record) -> ContentState:
    return ContentState(
        accepted_at=row["accepted_at"],
        receipt_signed_at=row["receipt_signed_at"],
        content_deleted_at=row["content_deleted_at"],
        content_expires_at=row["content_expires_at"],
    )


def _of_sender(letter_id: UUID | None, idempotency_key: str | None) -> tuple[str, Any]:
    """A sender's deposit, by its idempotency key if given, else by its letter id."""
    if idempotency_key is not None:
        return " AND idempotency_key = $2", idempotency_key
    return " AND letter_id = $2", letter_id


class PgLetters(PgRepository):
    async def _stamp(self, column: str, letter_id: UUID, at: datetime | None, *, once: bool = False) -> str:
        """Set the letter's `column` (the code's own name) to `at`; `once`: only if not set yet,
        the first one recorded stays."""
        value = f"coalesce({column}, $2)" if once else "$2"
        query = f"UPDATE letters SET {column} = {value} WHERE letter_id = $1"  # noqa: S608 - a constant name
        return str(await self.conn.execute(query, letter_id, at))

    async def deposited_under(self, sender_id: str, idempotency_key: str) -> EarlierDeposit | None:
        row = await self.conn.fetchrow(
            "SELECT letter_id, submission_sha256, deposited_event FROM letters"
            " WHERE sender_id = $1 AND idempotency_key = $2",
            sender_id,
            idempotency_key,
        )
        if row is None:
            return None
        return EarlierDeposit(row["letter_id"], row["submission_sha256"], bytes(row["deposited_event"]))

    async def add(
        self, event: LetterDeposited, *, sender_id: str, idempotency_key: str | None, fingerprint: str
    ) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO letters (letter_id, item_number, sender_id, deposited_at, idempotency_key,"
            " submission_sha256, deposited_event) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT DO NOTHING RETURNING true",
            event.correlation_id,
            event.item_number,
            sender_id,
            event.deposited_at,
            idempotency_key,
            fingerprint,
            event.to_json(),
        )
        return bool(inserted)

    async def clash(
        self, letter_id: UUID, item_number: str, sender_id: str, idempotency_key: str | None
    ) -> Clash | None:
        return await fetch_one(
            self.conn,
            Clash,
            "SELECT letter_id = $1 AS same_id, item_number = $2 AS same_number FROM letters"
            " WHERE letter_id = $1 OR item_number = $2 OR (sender_id = $3 AND idempotency_key = $4)",
            letter_id,
            item_number,
            sender_id,
            idempotency_key,
        )

    async def facts_for_sender(
        self, sender_id: str, *, letter_id: UUID | None = None, idempotency_key: str | None = None
    ) -> LetterFacts | None:
        where, key = _of_sender(letter_id, idempotency_key)
        return await fetch_one(self.conn, LetterFacts, LETTER_FACTS + where, sender_id, key)

    async def zip_state(self, letter_id: UUID) -> ZipState | None:
        row = await self.conn.fetchrow(
            "SELECT item_number, accepted_at, receipt_signed_at, content_deleted_at, content_expires_at,"
            " EXISTS (SELECT 1 FROM envelopes e WHERE e.letter_id = letters.letter_id) AS has_envelope"
            " FROM letters WHERE letter_id = $1",
            letter_id,
        )
        return None if row is None else ZipState(row["item_number"], _content_state(row), row["has_envelope"])

    async def handover(self, letter_id: UUID, document_id: UUID | None) -> Handover | None:
        return await fetch_one(
            self.conn,
            Handover,
            "SELECT l.item_number, l.handed_over_at, d.document_id FROM letters l"
            " JOIN documents d USING (letter_id) WHERE l.letter_id = $1"
            " AND (d.document_id = $2 OR ($2::uuid IS NULL AND d.role = 'main'))"
            " FOR UPDATE OF l",
            letter_id,
            document_id,
        )

    async def record_handover(self, letter_id: UUID, at: datetime) -> None:
        await self._stamp("handed_over_at", letter_id, at)

    async def record_first_notice(
        self, letter_id: UUID, sent_at: datetime, window_closes_at: datetime
    ) -> None:
        # The earliest notice wins, whatever order the notices arrive in.
        await self.conn.execute(
            "UPDATE letters SET first_notice_at = $2, window_closes_at = $3"
            " WHERE letter_id = $1 AND (first_notice_at IS NULL OR first_notice_at > $2)",
            letter_id,
            sent_at,
            window_closes_at,
        )

    async def record_acceptance(self, letter_id: UUID, accepted_at: datetime) -> bool:
        return await self._stamp("accepted_at", letter_id, accepted_at, once=True) != "UPDATE 0"

    async def record_refusal(self, letter_id: UUID, refused_at: datetime) -> None:
        await self._stamp("refused_at", letter_id, refused_at, once=True)

    async def record_receipt_signature(self, letter_id: UUID, signed_at: datetime) -> None:
        await self._stamp("receipt_signed_at", letter_id, signed_at, once=True)

    async def record_unclaimed(
        self, letter_id: UUID, unclaimed_at: datetime, window_closed_at: datetime
    ) -> None:
        # An accepted letter was claimed, whatever arrives late.
        await self.conn.execute(
            "UPDATE letters SET unclaimed_at = coalesce(unclaimed_at, $2), window_closes_at = $3"
            " WHERE letter_id = $1 AND accepted_at IS NULL",
            letter_id,
            unclaimed_at,
            window_closed_at,
        )

    async def expiry_facts(self, letter_id: UUID) -> ExpiryFacts | None:
        return await fetch_one(
            self.conn, ExpiryFacts, EXPIRY_FACTS + " AND letter_id = $1 FOR UPDATE", letter_id
        )

    async def expiry_facts_after(self, after: UUID, limit: int) -> list[ExpiryFacts]:
        return await fetch_all(
            self.conn,
            ExpiryFacts,
            EXPIRY_FACTS + " AND letter_id > $1 ORDER BY letter_id LIMIT $2 FOR UPDATE",
            after,
            limit,
        )

    async def schedule_content_expiry(self, letter_id: UUID, expires_at: datetime | None) -> None:
        await self._stamp("content_expires_at", letter_id, expires_at)

    async def content_due(self, now: datetime, limit: int) -> list[DueContent]:
        return await fetch_all(
            self.conn,
            DueContent,
            "SELECT letter_id, item_number, accepted_at, handed_over_at, content_expires_at"
            " FROM letters WHERE content_deleted_at IS NULL AND content_expires_at <= $1"
            " ORDER BY letter_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )

    async def record_content_deleted(self, letter_id: UUID, at: datetime) -> None:
        await self._stamp("content_deleted_at", letter_id, at)


class PgDocuments(PgRepository):
    async def add(self, letter_id: UUID, documents: Sequence[tuple[StoredDocument, str]]) -> None:
        await self.conn.executemany(
            "INSERT INTO documents (document_id, letter_id, role, filename, size, sha256, object_key)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(d.document_id, letter_id, d.role, d.filename, d.size, d.sha256, key) for d, key in documents],
        )

    async def available(self, letter_id: UUID, document_id: UUID) -> AvailableDocument | None:
        row = await self.conn.fetchrow(
            "SELECT d.filename, d.size, d.sha256, d.object_key,"
            " l.content_deleted_at, l.content_expires_at, l.accepted_at, l.receipt_signed_at"
            " FROM documents d JOIN letters l USING (letter_id)"
            " WHERE d.document_id = $1 AND d.letter_id = $2",
            document_id,
            letter_id,
        )
        if row is None:
            return None
        document = StoredObject(row["filename"], row["size"], row["sha256"], row["object_key"])
        return AvailableDocument(document, _content_state(row))

    async def record_link_issued(self, document_id: UUID, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE documents SET first_link_at = coalesce(first_link_at, $2) WHERE document_id = $1",
            document_id,
            at,
        )

    async def zip_entries(self, letter_id: UUID) -> list[StoredObject]:
        return await fetch_all(
            self.conn,
            StoredObject,
            "SELECT filename, size, sha256, object_key FROM ("
            "  SELECT filename, size, sha256, object_key, (role <> 'main')::int AS rank FROM documents"
            "  WHERE letter_id = $1"
            "  UNION ALL SELECT filename, size, sha256, object_key, 2 FROM envelopes WHERE letter_id = $1"
            ") entries ORDER BY rank, filename",
            letter_id,
        )

    async def object_keys(self, letter_id: UUID) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT object_key FROM documents WHERE letter_id = $1"
            " UNION SELECT object_key FROM envelopes WHERE letter_id = $1",
            letter_id,
        )
        return [row["object_key"] for row in rows]

    async def holds_object(self, object_key: str) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM documents WHERE object_key = $1"
                " UNION ALL SELECT 1 FROM envelopes WHERE object_key = $1)",
                object_key,
            )
        )


class PgEnvelopes(PgRepository):
    async def current(self, letter_id: UUID) -> CurrentEnvelope | None:
        return await fetch_one(
            self.conn,
            CurrentEnvelope,
            "SELECT l.content_deleted_at, e.issued_at, e.object_key FROM letters l"
            " LEFT JOIN envelopes e USING (letter_id) WHERE l.letter_id = $1 FOR UPDATE OF l",
            letter_id,
        )

    async def keep(self, letter_id: UUID, proof: StoredObject, issued_at: datetime) -> None:
        await insert(
            self.conn,
            "envelopes",
            {"letter_id": letter_id, **columns(proof), "issued_at": issued_at},
            "ON CONFLICT (letter_id) DO UPDATE SET filename = EXCLUDED.filename, size = EXCLUDED.size,"
            " sha256 = EXCLUDED.sha256, object_key = EXCLUDED.object_key, issued_at = EXCLUDED.issued_at",
        )


class PgRejections(PgRepository):
    async def add(self, rejected: LetterRejected) -> None:
        await self.conn.execute(
            "INSERT INTO rejections (message_id, letter_id, sender_id, idempotency_key, problems,"
            " rejected_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            rejected.message_id,
            rejected.correlation_id,
            rejected.sender_id,
            rejected.idempotency_key,
            json.dumps([p.model_dump() for p in rejected.problems]),
            rejected.occurred_at,
        )

    async def latest_for_sender(
        self, sender_id: str, *, letter_id: UUID | None = None, idempotency_key: str | None = None
    ) -> RecordedRejection | None:
        where, key = _of_sender(letter_id, idempotency_key)
        row = await self.conn.fetchrow(REJECTIONS + where + LATEST, sender_id, key)
        if row is None:
            return None
        problems = tuple(Problem.model_validate(p) for p in json.loads(row["problems"]))
        return RecordedRejection(row["letter_id"], problems, row["rejected_at"])


class PgUploads(PgRepository):
    async def add(self, upload: GrantedUpload) -> None:
        await insert(self.conn, "uploads", columns(upload))

    async def for_deposit(self, upload_id: UUID) -> UploadRecord | None:
        return await fetch_one(
            self.conn,
            UploadRecord,
            "SELECT filename, object_key, sender_id, letter_id, size, sha256, usable_until, url_expires_at,"
            " declared_sha256 FROM uploads WHERE upload_id = $1 FOR UPDATE",
            upload_id,
        )

    async def record_taken(
        self, upload_id: UUID, *, letter_id: UUID, at: datetime, size: int, sha256: str, in_place: bool
    ) -> None:
        await self.conn.execute(
            "UPDATE uploads SET letter_id = $2, consumed_at = $3, size = $4, sha256 = $5,"
            " cleaned_at = CASE WHEN $6::boolean THEN $3::timestamptz END WHERE upload_id = $1",
            upload_id,
            letter_id,
            at,
            size,
            sha256,
            in_place,
        )

    async def due_for_cleaning(self, now: datetime, limit: int) -> list[UploadObject]:
        return await fetch_all(
            self.conn,
            UploadObject,
            "SELECT upload_id, object_key FROM uploads WHERE cleaned_at IS NULL"
            # A taken upload's URL may still take a PUT until it expires: wait for that.
            " AND ((consumed_at IS NOT NULL AND url_expires_at <= $1) OR usable_until <= $1)"
            " ORDER BY upload_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )

    async def record_cleaned(self, upload_ids: Sequence[UUID], at: datetime) -> None:
        await self.conn.execute(
            "UPDATE uploads SET cleaned_at = $2 WHERE upload_id = ANY($1::uuid[])", list(upload_ids), at
        )


class PgUnitOfWork(units.PgUnitOfWork):
    """The bus's transaction, seen through the archive's repositories."""

    letters: PgLetters
    documents: PgDocuments
    envelopes: PgEnvelopes
    rejections: PgRejections
    uploads: PgUploads
    sender_streams: PgSenderStreams
    consents: PgConsents

    async def publish_again(self, message: Message, body: bytes) -> None:
        # Every consumer's inbox already holds the message id, so nothing downstream happens
        # twice. The outbox row may still be there (published, or not yet): it is marked
        # pending again rather than inserted twice.
        await self.conn.execute(
            "INSERT INTO outbox (message_id, correlation_id, exchange, routing_key, body)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO UPDATE"
            " SET published_at = NULL, attempts = 0, next_attempt_at = now(), last_error = NULL",
            message.message_id,
            message.correlation_id,
            message.exchange,
            message.published_key,
            body,
        )
        await self.conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")


# The unit of work over the bus's transaction of a message.
unit_of_work = PgUnitOfWork


def units_of_work(pool: Callable[[], asyncpg.Pool]) -> Transactions[PgUnitOfWork]:
    """Units of work on their own transactions, from the pool `pool()` gives once it is open."""
    return Transactions(PgUnitOfWork, pool)
