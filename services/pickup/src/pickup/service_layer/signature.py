"""Signing the acknowledgement of receipt (avis de réception, AR), and the verification case
of the one-time-code path as pickup keeps it.

CPCE R.53-3: the content is handed over once the recipient signed the AR, either with a
personal certificate (the signer checks the signed PDF) or with a one-time code (the
verification desk checks the recipient's identity documents, then the code).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from lre_shared.bus import Transaction
from lre_shared.messages import (
    CaseState,
    CodeFailed,
    DocumentChannel,
    ReceiptSigned,
    RequiredDocument,
    SignatureMethod,
    VerificationCaseOpened,
    VerificationDecided,
    now_utc,
)
from lre_shared.outbox import enqueue

log = logging.getLogger(__name__)


async def record_signature(
    pool: asyncpg.Pool,
    letter_id: UUID,
    method: SignatureMethod,
    signer_name: str,
    *,
    receipt_sha256: str | None = None,
    case_id: UUID | None = None,
    now: datetime | None = None,
) -> bool:
    """Record the signed AR and announce it (ReceiptSigned) in one transaction.

    False when the letter is not accepted or was already signed: nothing is announced twice.
    """
    now = now or now_utc()
    async with pool.acquire() as conn, conn.transaction():
        item_number = await conn.fetchval(
            "UPDATE letters SET signed_at = $2, signature_method = $3, signer_name = $4, receipt_sha256 = $5"
            " WHERE letter_id = $1 AND state = 'accepted' AND signed_at IS NULL RETURNING item_number",
            letter_id,
            now,
            str(method),
            signer_name,
            receipt_sha256,
        )
        if item_number is None:
            return False
        await enqueue(
            conn,
            ReceiptSigned(
                correlation_id=letter_id,
                item_number=item_number,
                method=method,
                signed_at=now,
                signer_name=signer_name,
                receipt_sha256=receipt_sha256,
                case_id=case_id,
            ),
        )
    return True


# ------------------------------------------------------------------ verification case


@dataclass(frozen=True)
class Case:
    case_id: UUID
    reference: str | None
    state: CaseState
    reason: str | None
    document_channel: str
    code_channel: str
    inbound_email: str | None
    inbound_mms: str | None
    inbound_fax: str | None
    max_document_bytes: int | None
    documents_sent: int
    required_documents: tuple[RequiredDocument, ...] = ()
    code_failure: str | None = None  # the last code could not be sent (CodeFailed)
    code_failed_channel: str | None = None


async def find_case(pool: asyncpg.Pool, letter_id: UUID) -> Case | None:
    row = await pool.fetchrow(
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


async def case_opened(
    pool: asyncpg.Pool,
    letter_id: UUID,
    opened: VerificationCaseOpened,
    document_channel: DocumentChannel,
    code_channel: str,
) -> None:
    """Keep the case the desk opened (or gave again, with its channels updated)."""
    await pool.execute(
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


async def document_added(pool: asyncpg.Pool, letter_id: UUID, state: CaseState | None) -> None:
    await pool.execute(
        "UPDATE verification_cases SET documents_sent = documents_sent + 1,"
        " state = coalesce($2, state), updated_at = now() WHERE letter_id = $1",
        letter_id,
        None if state is None else str(state),
    )


async def on_code_failed(event: CodeFailed, tx: Transaction) -> None:
    """The notifier could not send the letter's code: the code entry page says so and offers
    the recipient's other channel."""
    await tx.conn.execute(
        "UPDATE verification_cases SET code_failure = $2, code_failed_channel = $3, code_failed_at = $4,"
        " updated_at = now() WHERE letter_id = $1",
        event.correlation_id,
        event.reason[:1000],
        event.channel,
        event.occurred_at,
    )


async def code_requested(pool: asyncpg.Pool, letter_id: UUID, channel: str | None) -> None:
    """A new code is on its way (by `channel` when the recipient chose another one)."""
    await pool.execute(
        "UPDATE verification_cases SET code_failure = NULL, code_failed_channel = NULL,"
        " code_channel = coalesce($2, code_channel), updated_at = now() WHERE letter_id = $1",
        letter_id,
        channel,
    )


async def on_verification_decided(event: VerificationDecided, tx: Transaction) -> None:
    """The desk decided: approved (a code is on its way), rejected, or more documents needed.

    A decision older than the one already applied (messages may arrive out of order) is ignored.
    """
    applied = await tx.conn.fetchval(
        "INSERT INTO verification_cases (letter_id, case_id, state, reason, document_channel,"
        " code_channel, decided_at)"
        " SELECT $1, $2, $3, $4, '', '', $5 WHERE EXISTS (SELECT 1 FROM letters WHERE letter_id = $1)"
        " ON CONFLICT (letter_id) DO UPDATE SET case_id = EXCLUDED.case_id, state = EXCLUDED.state,"
        " reason = EXCLUDED.reason, decided_at = EXCLUDED.decided_at, updated_at = now()"
        " WHERE verification_cases.decided_at IS NULL OR verification_cases.decided_at <= EXCLUDED.decided_at"
        " RETURNING true",
        event.correlation_id,
        event.case_id,
        event.outcome,
        event.reason,
        event.decided_at,
    )
    if not applied:
        log.warning(
            "verification decision not applied (unknown letter, or an older decision)",
            extra={"letter_id": str(event.correlation_id), "case_id": str(event.case_id)},
        )
