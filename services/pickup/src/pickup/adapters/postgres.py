"""The pickup service's records in PostgreSQL: letters, verification cases, site sessions,
wrong answers per client address, sign-ins at the identity provider under way and signed ARs
kept for another check, behind the protocols of `pickup.service_layer.ports`.

Each repository runs on a connection (inside a unit of work) or on the pool (one statement,
committed at once). `unit_of_work(tx)` builds the unit of work from the bus's transaction;
`PgStorage.unit_of_work()` opens one on a pooled connection for the pages.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from lre_shared import units
from lre_shared.bus import Transaction
from lre_shared.contracts import (
    CaseState,
    CodeFailed,
    DocumentChannel,
    Language,
    LetterDeposited,
    LockKind,
    Message,
    RequiredDocument,
    SignatureMethod,
    VerificationCaseOpened,
    VerificationDecided,
)
from lre_shared.units import OnPool, PgRepository, Transactions, columns, fetch_all, fetch_one, insert
from pickup.domain.letter import Case, DueLetter, LetterHolds, LetterView, Signature
from pickup.domain.provider import IdentityRequest

M = TypeVar("M", bound=Message)
R = TypeVar("R", bound=Message | None)


# The letter's columns of each kind: its holds, and its count of wrong answers (all time).
HOLD_COLUMNS = {
    LockKind.identity: ("identity_holds", "identity_failures"),
    LockKind.code: ("code_holds", "code_failures"),
}

_SELECT = (
    "SELECT letter_id, item_number, state, recipient::text AS recipient, sender::text AS sender,"
    " documents::text AS documents, deposited_at, deadline, decided_at, identity_failures,"
    " signature_methods, signed_at, code_failures, first_notice_at,"
    " identity_holds::text AS identity_holds, code_holds::text AS code_holds, language FROM letters"
)


def _letter(**row: Any) -> LetterView:
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


class PgLetters(PgRepository):
    async def deposit(self, event: LetterDeposited, deadline: date) -> None:
        await self.conn.execute(
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

    async def first_notice_sent(self, letter_id: UUID, sent_at: datetime, deadline: date) -> None:
        await self.conn.execute(
            "UPDATE letters SET first_notice_at = $2, deadline = $3"
            " WHERE letter_id = $1 AND (first_notice_at IS NULL OR first_notice_at > $2)",
            letter_id,
            sent_at,
            deadline,
        )

    async def notice_failed(self, letter_id: UUID) -> None:
        await self.conn.execute(
            "UPDATE letters SET notice_failures = notice_failures + 1 WHERE letter_id = $1", letter_id
        )

    async def get(self, letter_id: UUID, *, for_update: bool = False) -> LetterView | None:
        lock = " FOR UPDATE" if for_update else ""
        return await fetch_one(self.conn, _letter, _SELECT + " WHERE letter_id = $1" + lock, letter_id)

    async def with_item_number(self, item_number: str) -> LetterView | None:
        return await fetch_one(self.conn, _letter, _SELECT + " WHERE item_number = $1", item_number)

    async def change_language(self, letter_id: UUID, language: Language) -> str | None:
        item_number: str | None = await self.conn.fetchval(
            "UPDATE letters SET language = $2 WHERE letter_id = $1 AND language <> $2 RETURNING item_number",
            letter_id,
            language,
        )
        return item_number

    async def decide(self, letter_id: UUID, state: str, decided_at: datetime) -> None:
        await self.conn.execute(
            "UPDATE letters SET state = $2, decided_at = $3 WHERE letter_id = $1",
            letter_id,
            state,
            decided_at,
        )

    async def record_signature(self, signature: Signature) -> str | None:
        item_number: str | None = await self.conn.fetchval(
            "UPDATE letters SET signed_at = $2, signature_method = $3, signer_name = $4, receipt_sha256 = $5"
            " WHERE letter_id = $1 AND state = 'accepted' AND signed_at IS NULL RETURNING item_number",
            signature.letter_id,
            signature.signed_at,
            str(signature.method),
            signature.signer_name,
            signature.receipt_sha256,
        )
        return item_number

    async def due_unclaimed(self, today: date, batch: int) -> Sequence[DueLetter]:
        return await fetch_all(
            self.conn,
            DueLetter,
            "SELECT letter_id, item_number, deadline FROM letters"
            " WHERE state = 'awaiting' AND first_notice_at IS NOT NULL AND deadline < $1"
            " ORDER BY deadline, letter_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            today,
            batch,
        )

    async def mark_unclaimed(self, letter_id: UUID, at: datetime) -> None:
        await self.conn.execute(
            "UPDATE letters SET state = 'unclaimed', unclaimed_at = $2 WHERE letter_id = $1", letter_id, at
        )

    async def holds(self, letter_id: UUID, kind: LockKind) -> str:
        holds, _ = HOLD_COLUMNS[kind]
        text: str = await self.conn.fetchval(
            f"SELECT {holds}::text FROM letters WHERE letter_id = $1",  # noqa: S608 - constant column
            letter_id,
        )
        return text

    async def settle_holds(self, letter_id: UUID, kind: LockKind, judged: str, holds: str) -> str | None:
        holds_column, failures_column = HOLD_COLUMNS[kind]
        item_number: str | None = await self.conn.fetchval(
            f"UPDATE letters SET {holds_column} = $3::jsonb, {failures_column} = {failures_column} + 1"  # noqa: S608 - constant columns
            f" WHERE letter_id = $1 AND {holds_column} = $2::jsonb RETURNING item_number",
            letter_id,
            judged,
            holds,
        )
        return item_number

    async def holds_for_update(self, letter_id: UUID) -> LetterHolds | None:
        row = await self.conn.fetchrow(
            "SELECT item_number, identity_holds::text AS identity, code_holds::text AS code"
            " FROM letters WHERE letter_id = $1 FOR UPDATE",
            letter_id,
        )
        if row is None:
            return None
        return LetterHolds(row["item_number"], {str(kind): row[str(kind)] for kind in LockKind})

    async def lift_holds(self, letter_id: UUID, kinds: Sequence[LockKind]) -> None:
        assignments = ", ".join(f"{HOLD_COLUMNS[kind][0]} = '{{}}'" for kind in kinds)
        await self.conn.execute(f"UPDATE letters SET {assignments} WHERE letter_id = $1", letter_id)  # noqa: S608 - constant columns


class PgCases(PgRepository):
    async def of_letter(self, letter_id: UUID) -> Case | None:
        row = await self.conn.fetchrow(
            "SELECT case_id, reference, state, reason, document_channel, code_channel, inbound_email,"
            " inbound_mms, inbound_fax, max_document_bytes, documents_sent, required_documents,"
            " code_failure, code_failed_channel FROM verification_cases WHERE letter_id = $1",
            letter_id,
        )
        if row is None:
            return None
        known = {d.value for d in RequiredDocument}
        required = tuple(RequiredDocument(d) for d in row["required_documents"] if d in known)
        return Case(**{**dict(row), "state": CaseState(row["state"]), "required_documents": required})

    async def opened(
        self,
        letter_id: UUID,
        opened: VerificationCaseOpened,
        document_channel: DocumentChannel,
        code_channel: str,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO verification_cases (letter_id, case_id, reference, state, document_channel,"
            " code_channel, inbound_email, inbound_mms, inbound_fax, max_document_bytes, required_documents)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (letter_id) DO UPDATE SET case_id = EXCLUDED.case_id,"
            " reference = EXCLUDED.reference, state = EXCLUDED.state,"
            " document_channel = EXCLUDED.document_channel, code_channel = EXCLUDED.code_channel,"
            " inbound_email = EXCLUDED.inbound_email, inbound_mms = EXCLUDED.inbound_mms,"
            " inbound_fax = EXCLUDED.inbound_fax, max_document_bytes = EXCLUDED.max_document_bytes,"
            " required_documents = EXCLUDED.required_documents, updated_at = now()",
            letter_id,
            opened.case_id,
            opened.reference,
            str(opened.state or CaseState.awaiting_documents),
            str(document_channel),
            code_channel,
            opened.inbound_email,
            opened.inbound_mms,
            opened.inbound_fax,
            opened.max_document_bytes,
            [str(document) for document in opened.required_documents],
        )

    async def document_added(self, letter_id: UUID, state: CaseState | None) -> None:
        await self.conn.execute(
            "UPDATE verification_cases SET documents_sent = documents_sent + 1,"
            " state = coalesce($2, state), updated_at = now() WHERE letter_id = $1",
            letter_id,
            None if state is None else str(state),
        )

    async def code_failed(self, event: CodeFailed) -> None:
        await self.conn.execute(
            "UPDATE verification_cases SET code_failure = $2, code_failed_channel = $3, code_failed_at = $4,"
            " updated_at = now() WHERE letter_id = $1",
            event.correlation_id,
            event.reason[:1000],
            event.channel,
            event.occurred_at,
        )

    async def code_requested(self, letter_id: UUID, channel: str | None) -> None:
        await self.conn.execute(
            "UPDATE verification_cases SET code_failure = NULL, code_failed_channel = NULL,"
            " code_channel = coalesce($2, code_channel), updated_at = now() WHERE letter_id = $1",
            letter_id,
            channel,
        )

    async def decided(self, event: VerificationDecided) -> bool:
        applied = await self.conn.fetchval(
            "INSERT INTO verification_cases (letter_id, case_id, state, reason, document_channel,"
            " code_channel, decided_at)"
            " SELECT $1, $2, $3, $4, '', '', $5 WHERE EXISTS (SELECT 1 FROM letters WHERE letter_id = $1)"
            " ON CONFLICT (letter_id) DO UPDATE SET case_id = EXCLUDED.case_id, state = EXCLUDED.state,"
            " reason = EXCLUDED.reason, decided_at = EXCLUDED.decided_at, updated_at = now()"
            " WHERE verification_cases.decided_at IS NULL"
            " OR verification_cases.decided_at <= EXCLUDED.decided_at"
            " RETURNING true",
            event.correlation_id,
            event.case_id,
            event.outcome,
            event.reason,
            event.decided_at,
        )
        return bool(applied)


class PgSessions(PgRepository):
    async def start(self, session_id: str) -> None:
        await self.conn.execute("INSERT INTO site_sessions (session_id) VALUES ($1)", session_id)

    async def end(self, session_id: str) -> None:
        await self.conn.execute("DELETE FROM site_sessions WHERE session_id = $1", session_id)

    async def end_idle(self, idle: timedelta) -> None:
        await self.conn.execute("DELETE FROM site_sessions WHERE seen_at < now() - $1::interval", idle)

    async def idle_for(self, session_id: str) -> timedelta | None:
        idle: timedelta | None = await self.conn.fetchval(
            "SELECT now() - seen_at FROM site_sessions WHERE session_id = $1", session_id
        )
        return idle

    async def seen(self, session_id: str) -> None:
        await self.conn.execute("UPDATE site_sessions SET seen_at = now() WHERE session_id = $1", session_id)


class PgIdentityRequests(PgRepository):
    async def add(self, request: IdentityRequest) -> None:
        await insert(self.conn, "identity_requests", columns(request))

    async def take(self, state: str) -> IdentityRequest | None:
        return await fetch_one(
            self.conn,
            IdentityRequest,
            "DELETE FROM identity_requests WHERE state = $1 RETURNING state, session_id, letter_id, nonce,"
            " code_verifier, purpose, code_channel, started_at",
            state,
        )

    async def drop_older_than(self, moment: datetime) -> None:
        await self.conn.execute("DELETE FROM identity_requests WHERE started_at < $1", moment)


class PgReceiptsInCheck(PgRepository):
    async def keep(self, letter_id: UUID, pdf: bytes, kept_at: datetime) -> None:
        await insert(
            self.conn,
            "receipts_in_check",
            {"letter_id": letter_id, "pdf": pdf, "kept_at": kept_at},
            "ON CONFLICT (letter_id) DO UPDATE SET pdf = EXCLUDED.pdf, kept_at = EXCLUDED.kept_at",
        )

    async def kept(self, letter_id: UUID) -> bool:
        found: bool = await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM receipts_in_check WHERE letter_id = $1)", letter_id
        )
        return found

    async def get(self, letter_id: UUID) -> bytes | None:
        pdf: bytes | None = await self.conn.fetchval(
            "SELECT pdf FROM receipts_in_check WHERE letter_id = $1", letter_id
        )
        return pdf

    async def drop(self, letter_id: UUID) -> None:
        await self.conn.execute("DELETE FROM receipts_in_check WHERE letter_id = $1", letter_id)

    async def drop_older_than(self, moment: datetime) -> None:
        await self.conn.execute("DELETE FROM receipts_in_check WHERE kept_at < $1", moment)


class PgAddressFailures(PgRepository):
    async def locked_until(self, kind: str, address: str, now: datetime) -> datetime | None:
        until: datetime | None = await self.conn.fetchval(
            "SELECT locked_until FROM address_failures"
            " WHERE kind = $1 AND address = $2 AND locked_until > $3",
            kind,
            address,
            now,
        )
        return until

    async def count(self, kind: str, address: str, now: datetime, window: timedelta) -> int:
        failures: int = await self.conn.fetchval(
            "INSERT INTO address_failures (kind, address, failures, window_start) VALUES ($1, $2, 1, $3)"
            " ON CONFLICT (kind, address) DO UPDATE SET"
            " failures = CASE WHEN address_failures.window_start + $4 <= $3 THEN 1"
            "   ELSE address_failures.failures + 1 END,"
            " window_start = CASE WHEN address_failures.window_start + $4 <= $3 THEN $3"
            "   ELSE address_failures.window_start END"
            " RETURNING failures",
            kind,
            address,
            now,
            window,
        )
        return failures

    async def lock(self, kind: str, address: str, now: datetime, until: datetime) -> None:
        await self.conn.execute(
            "UPDATE address_failures SET failures = 0, window_start = $3, locked_until = $4"
            " WHERE kind = $1 AND address = $2",
            kind,
            address,
            now,
            until,
        )


class PgUnitOfWork(units.PgUnitOfWork):
    """The repositories on one transaction's connection, and its outbox."""

    letters: PgLetters
    cases: PgCases
    sessions: PgSessions
    address_failures: PgAddressFailures
    identity_requests: PgIdentityRequests
    receipts_in_check: PgReceiptsInCheck


# The unit of work over the bus's transaction of a message.
unit_of_work = PgUnitOfWork


def in_unit_of_work(
    handler: Callable[[M, PgUnitOfWork], Awaitable[R]],
) -> Callable[[M, Transaction], Awaitable[R]]:
    """A bus handler taking a unit of work, as the bus calls it: with its transaction."""
    return units.in_unit_of_work(unit_of_work, handler)


class PgStorage:
    """The pages' records: each repository on the pool (one statement, committed at once),
    and units of work on a pooled connection."""

    letters = OnPool(PgLetters)
    cases = OnPool(PgCases)
    sessions = OnPool(PgSessions)
    address_failures = OnPool(PgAddressFailures)
    identity_requests = OnPool(PgIdentityRequests)
    receipts_in_check = OnPool(PgReceiptsInCheck)

    def __init__(self, pool: Callable[[], asyncpg.Pool]) -> None:
        # The pool exists once the service has started, after the site is built.
        self.pool = pool
        self.unit_of_work = Transactions(PgUnitOfWork, pool)


def storage_on(pool: asyncpg.Pool) -> PgStorage:
    """The storage on a pool already open (the sweeper, tests)."""
    return PgStorage(lambda: pool)
