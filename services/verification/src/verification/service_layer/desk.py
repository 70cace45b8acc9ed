"""The support desk's use cases: the queue, claiming, the checklist, decisions, phone
callbacks, the audit trail and the triage list (DESIGN §2 step 5).

Two agents never get the same case: claiming takes the oldest waiting case with
`SELECT … FOR UPDATE SKIP LOCKED`, so concurrent claims each lock a different row, and
only the agent holding a case (or a supervisor) may decide it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import TypeAdapter

from lre_shared.bus import Transaction
from lre_shared.messages import CaseState, LiftLetterLock, LockKind, VerificationDecided
from verification.domain.policy import ChecklistItem, unmet
from verification.service_layer import codes
from verification.service_layer.cases import CASE_COLUMNS, CLOSED, documents_arrived, record
from verification.settings import VerificationSettings

PARIS = ZoneInfo("Europe/Paris")
Outcome = Literal["approved", "rejected", "more_documents"]
CHECKLIST = TypeAdapter(list[ChecklistItem])


class DeskError(Exception):
    """A request the desk refuses: `status` is the HTTP status, the message says why."""

    def __init__(self, status: int, reason: str, problems: list[str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.problems = problems or []


@dataclass(frozen=True)
class Agent:
    subject: str  # the token's `sub`
    supervisor: bool


def french_today(now: datetime) -> date:
    return now.astimezone(PARIS).date()


def case_json(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    value = {key: row[key] for key in row.keys()}  # noqa: SIM118 - asyncpg records
    value["checklist"] = json.loads(value["checklist"])
    value["age_seconds"] = int((now - row["opened_at"]).total_seconds())
    return value


async def queue(conn: asyncpg.Connection, now: datetime, state: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {CASE_COLUMNS} FROM cases WHERE ($1::text IS NULL AND state NOT IN ('approved', 'rejected'))"  # noqa: S608 - constant column list
        " OR state = $1 ORDER BY coalesce(pending_since, opened_at), opened_at LIMIT 500",
        state,
    )
    return [case_json(row, now) for row in rows]


async def claim(
    pool: asyncpg.Pool, agent: Agent, now: datetime, hold: timedelta = timedelta(minutes=30)
) -> dict[str, Any] | None:
    """The oldest case waiting for an agent, now held by `agent`; None when the queue is empty.

    A case held longer than `hold` without a decision (its agent went away) waits again."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT case_id FROM cases WHERE state = 'pending' OR (state = 'in_review' AND claimed_at <= $1)"
            " ORDER BY pending_since, opened_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            now - hold,
        )
        if row is None:
            return None
        case = await conn.fetchrow(
            "UPDATE cases SET state = 'in_review', claimed_by = $2, claimed_at = $3"  # noqa: S608 - constant column list
            f" WHERE case_id = $1 RETURNING {CASE_COLUMNS}",
            row["case_id"],
            agent.subject,
            now,
        )
        await record(conn, row["case_id"], agent.subject, "claimed", now)
        return case_json(case, now)


async def get_case(conn: asyncpg.Connection, case_id: UUID, *, lock: bool = False) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1{' FOR UPDATE' if lock else ''}",  # noqa: S608
        case_id,
    )
    if row is None:
        raise DeskError(404, "no such case")
    return row


async def case_detail(conn: asyncpg.Connection, case_id: UUID, now: datetime) -> dict[str, Any]:
    case = await get_case(conn, case_id)
    detail = case_json(case, now)
    letter = await conn.fetchrow(
        "SELECT recipient_name, recipient_company, recipient_landline FROM letters WHERE letter_id = $1",
        case["letter_id"],
    )
    detail["recipient"] = dict(letter) if letter else None
    items = CHECKLIST.validate_python(detail["checklist"])
    detail["unmet"] = unmet(case["policy"], items, french_today(now))
    detail["documents"] = await document_list(conn, case_id)
    detail["callbacks"] = [
        dict(r)
        for r in await conn.fetch(
            "SELECT callback_id, number, called_at, outcome, agent FROM callbacks WHERE case_id = $1"
            " ORDER BY called_at",
            case_id,
        )
    ]
    return detail


async def documents_shown(
    conn: asyncpg.Connection, case_id: UUID, agent: Agent, now: datetime
) -> list[dict[str, Any]]:
    """The case's documents, for `agent` to open: who looked at identity documents is recorded."""
    await get_case(conn, case_id)
    await record(conn, case_id, agent.subject, "documents_shown", now)
    return await document_list(conn, case_id)


async def document_list(conn: asyncpg.Connection, case_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT document_id, channel, filename, content_type, size, sha256, received_at, deleted_at"
        " FROM documents WHERE case_id = $1 ORDER BY received_at",
        case_id,
    )
    return [dict(row) for row in rows]


def _holding(case: asyncpg.Record, agent: Agent) -> None:
    if case["state"] != CaseState.in_review.value:
        raise DeskError(409, f"the case is {case['state']}: claim it first")
    if case["claimed_by"] != agent.subject and not agent.supervisor:
        raise DeskError(403, "another agent holds this case")


async def save_checklist(
    conn: asyncpg.Connection, case_id: UUID, agent: Agent, items: list[ChecklistItem], now: datetime
) -> dict[str, Any]:
    case = await get_case(conn, case_id, lock=True)
    _holding(case, agent)
    payload = json.dumps([item.model_dump(mode="json") for item in items])
    await conn.execute("UPDATE cases SET checklist = $2::jsonb WHERE case_id = $1", case_id, payload)
    await record(conn, case_id, agent.subject, "checklist_saved", now, items=json.loads(payload))
    return {"unmet": unmet(case["policy"], items, french_today(now))}


async def decide(
    tx: Transaction,
    case_id: UUID,
    agent: Agent,
    outcome: Outcome,
    reason: str | None,
    *,
    settings: VerificationSettings,
    now: datetime,
) -> dict[str, Any]:
    conn = tx.conn
    case = await get_case(conn, case_id, lock=True)
    _holding(case, agent)
    if outcome != "approved" and not (reason and reason.strip()):
        raise DeskError(400, f"a reason is required to decide {outcome}")
    if outcome == "approved":
        problems = unmet(case["policy"], CHECKLIST.validate_json(case["checklist"]), french_today(now))
        if problems:
            raise DeskError(400, f"the checklist does not satisfy the {case['policy']} policy", problems)
    final = outcome in CLOSED
    state = outcome if final else CaseState.more_documents.value
    await conn.execute(
        "UPDATE cases SET state = $2, decision = $3, reason = $4, decided_by = $5,"
        " decided_at = CASE WHEN $6 THEN $7 ELSE decided_at END,"
        " claimed_by = CASE WHEN $6 THEN claimed_by END, claimed_at = CASE WHEN $6 THEN claimed_at END"
        " WHERE case_id = $1",
        case_id,
        state,
        outcome,
        reason,
        agent.subject,
        final,
        now,
    )
    await record(conn, case_id, agent.subject, outcome, now, reason=reason)
    await tx.publish(
        VerificationDecided(
            correlation_id=case["letter_id"],
            case_id=case_id,
            item_number=case["item_number"],
            outcome=outcome,
            reason=reason,
            decided_at=now,
        )
    )
    if outcome == "approved":
        expires_at = await codes.issue_code(
            tx,
            case_id=case_id,
            letter_id=case["letter_id"],
            item_number=case["item_number"],
            channel=case["code_channel"],
            address=case["code_address"],
            language=case["language"],
            settings=settings,
            now=now,
        )
        if expires_at is None:
            # The pickup site holds the letter's codes after wrong ones: none is sent now.
            await record(conn, case_id, agent.subject, "code_withheld", now, reason="codes locked")
    return {"case_id": case_id, "state": state, "decision": outcome, "reason": reason}


async def log_callback(
    conn: asyncpg.Connection,
    case_id: UUID,
    agent: Agent,
    number: str,
    called_at: datetime,
    outcome: str,
    now: datetime,
) -> dict[str, Any]:
    case = await get_case(conn, case_id, lock=True)
    _holding(case, agent)
    callback_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO callbacks (callback_id, case_id, number, called_at, outcome, agent, logged_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        callback_id,
        case_id,
        number,
        called_at,
        outcome,
        agent.subject,
        now,
    )
    await record(
        conn, case_id, agent.subject, "callback", now, number=number, called_at=called_at, outcome=outcome
    )
    return {"callback_id": callback_id}


async def audit_trail(conn: asyncpg.Connection, case_id: UUID, agent: Agent) -> list[dict[str, Any]]:
    case = await get_case(conn, case_id)
    if not agent.supervisor and agent.subject not in (case["claimed_by"], case["decided_by"]):
        raise DeskError(403, "only a supervisor, or the agent who handled the case, reads its audit trail")
    rows = await conn.fetch(
        "SELECT event_id, at, actor, action, detail FROM case_events WHERE case_id = $1 ORDER BY event_id",
        case_id,
    )
    return [{**dict(row), "detail": json.loads(row["detail"])} for row in rows]


async def triage_list(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT t.triage_id, t.channel, t.sender, t.subject, t.excerpt, t.problem, t.received_at,"
        " t.assigned_to, t.assigned_by, t.assigned_at,"
        " (SELECT count(*) FROM documents d WHERE d.triage_id = t.triage_id AND d.deleted_at IS NULL)"
        " AS documents"
        " FROM triage t ORDER BY t.assigned_at IS NOT NULL, t.received_at LIMIT 500"
    )
    return [dict(row) for row in rows]


async def assign_triage(
    conn: asyncpg.Connection, triage_id: UUID, case_id: UUID, agent: Agent, now: datetime
) -> dict[str, Any]:
    """A supervisor files an unmatched message under its case: its documents join the case."""
    item = await conn.fetchrow("SELECT assigned_to FROM triage WHERE triage_id = $1 FOR UPDATE", triage_id)
    if item is None:
        raise DeskError(404, "no such triage entry")
    if item["assigned_to"] is not None:
        raise DeskError(409, "this entry is already assigned")
    case = await get_case(conn, case_id, lock=True)
    if case["state"] in CLOSED:
        raise DeskError(409, f"the case is {case['state']}")
    await conn.execute(
        "UPDATE triage SET assigned_to = $2, assigned_by = $3, assigned_at = $4 WHERE triage_id = $1",
        triage_id,
        case_id,
        agent.subject,
        now,
    )
    moved = await conn.fetch(
        "UPDATE documents SET case_id = $2 WHERE triage_id = $1 AND deleted_at IS NULL RETURNING document_id",
        triage_id,
        case_id,
    )
    state = await documents_arrived(conn, case_id, now) if moved else case["state"]
    await record(
        conn,
        case_id,
        agent.subject,
        "triage_assigned",
        now,
        triage_id=triage_id,
        documents=[r[0] for r in moved],
    )
    return {"case_id": case_id, "state": state, "documents": [r[0] for r in moved]}


async def document_for_view(conn: asyncpg.Connection, document_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT document_id, case_id, filename, content_type, object_key FROM documents"
        " WHERE document_id = $1 AND deleted_at IS NULL",
        document_id,
    )
    return row


# ------------------------------------------------------------------ letter locks


async def lift_lock(
    tx: Transaction, item_number: str, agent: Agent, kinds: list[LockKind], reason: str, now: datetime
) -> dict[str, Any]:
    """A supervisor lifts the pickup site's holds on a letter (wrong identities or codes), for
    instance once the recipient has called support: a hold must not keep them out until the
    15-day window closes (CPCE R.53-3). Who asked and why join the letter's audit trail, and
    the command goes to the pickup service in the same transaction (outbox)."""
    if not agent.supervisor:
        raise DeskError(403, "only a supervisor lifts a letter's lock")
    if not reason.strip():
        raise DeskError(400, "a reason is required to lift a lock")
    letter_id = await tx.conn.fetchval("SELECT letter_id FROM letters WHERE item_number = $1", item_number)
    if letter_id is None:
        raise DeskError(404, f"no letter has the item number {item_number}")
    chosen = tuple(dict.fromkeys(kinds))
    await tx.conn.execute(
        "INSERT INTO letter_events (letter_id, item_number, at, actor, action, detail)"
        " VALUES ($1, $2, $3, $4, 'lock_lifted', $5::jsonb)",
        letter_id,
        item_number,
        now,
        agent.subject,
        json.dumps({"kinds": [str(kind) for kind in chosen], "reason": reason}),
    )
    await tx.publish(
        LiftLetterLock(
            correlation_id=letter_id,
            item_number=item_number,
            kinds=chosen,
            supervisor=agent.subject,
            reason=reason,
            requested_at=now,
        )
    )
    return {"letter_id": letter_id, "item_number": item_number, "kinds": list(chosen), "requested_at": now}


async def letter_audit(conn: asyncpg.Connection, item_number: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT event_id, letter_id, at, actor, action, detail FROM letter_events WHERE item_number = $1"
        " ORDER BY event_id",
        item_number,
    )
    return [{**dict(row), "detail": json.loads(row["detail"])} for row in rows]
