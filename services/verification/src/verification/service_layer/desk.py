"""The support desk's use cases: the queue, claiming, the checklist, decisions, phone
callbacks, the audit trail and the triage list (DESIGN §2 step 5).

Two agents never get the same case: claiming takes the oldest waiting case with
`SELECT … FOR UPDATE SKIP LOCKED`, so concurrent claims each lock a different row, and
only the agent holding a case (or a supervisor) may decide it.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from lre_shared.contracts import CaseState, LiftLetterLock, LockKind, VerificationDecided
from verification.domain.cases import CLOSED, Callback, Case, CodeOrder, Decision
from verification.domain.policy import ChecklistItem, PolicyName, UnmetRule, unmet_rules
from verification.service_layer import codes
from verification.service_layer.ports import UnitOfWork
from verification.settings import VerificationSettings

PARIS = ZoneInfo("Europe/Paris")
Outcome = Literal["approved", "rejected", "more_documents"]
CHECKLIST = TypeAdapter(list[ChecklistItem])


class DeskError(Exception):
    """A request the desk refuses: `status` is the HTTP status, the message says why."""

    def __init__(self, status: int, reason: str, unmet: list[UnmetRule] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.unmet = unmet or []  # the policy's rules a decision still lacks


@dataclass(frozen=True)
class Agent:
    subject: str  # the token's `sub`
    supervisor: bool


def french_today(now: datetime) -> date:
    return now.astimezone(PARIS).date()


def lacking(policy: PolicyName, items: list[ChecklistItem], now: datetime) -> dict[str, Any]:
    """What `items` lack for `policy` today: the English sentences (`unmet`) and the same rules
    as codes with their parameters (`unmet_rules`), for a console to word in its language."""
    rules = unmet_rules(policy, items, french_today(now))
    return {"unmet": [rule.text for rule in rules], "unmet_rules": rules}


def case_json(case: Case, now: datetime) -> dict[str, Any]:
    value = asdict(case)
    value["age_seconds"] = int((now - case.opened_at).total_seconds())
    return value


async def queue(uow: UnitOfWork, now: datetime, state: str | None) -> list[dict[str, Any]]:
    return [case_json(case, now) for case in await uow.cases.queue(state)]


async def claim(
    uow: UnitOfWork, agent: Agent, now: datetime, hold: timedelta = timedelta(minutes=30)
) -> dict[str, Any] | None:
    """The oldest case waiting for an agent, now held by `agent`; None when the queue is empty.

    A case held longer than `hold` without a decision (its agent went away) waits again."""
    case_id = await uow.cases.next_waiting(now - hold)
    if case_id is None:
        return None
    case = await uow.cases.claim(case_id, agent.subject, now)
    await uow.case_events.record(case_id, agent.subject, "claimed", now)
    return case_json(case, now)


async def get_case(uow: UnitOfWork, case_id: UUID, *, lock: bool = False) -> Case:
    case = await uow.cases.get(case_id, lock=lock)
    if case is None:
        raise DeskError(404, "no such case")
    return case


async def case_detail(uow: UnitOfWork, case_id: UUID, now: datetime) -> dict[str, Any]:
    case = await get_case(uow, case_id)
    detail = case_json(case, now)
    recipient = await uow.letters.recipient(case.letter_id)
    if recipient is not None and recipient.get("recipient_birth_date") is None:
        # Most senders declare no birth date: the case then shows none, not an empty one.
        recipient.pop("recipient_birth_date", None)
    if recipient is not None and recipient.get("recipient_forgotten_at") is None:
        # Shown only once the retention sweep forgot the recipient (their details then None).
        recipient.pop("recipient_forgotten_at", None)
    detail["recipient"] = recipient
    items = CHECKLIST.validate_python(detail["checklist"])
    detail.update(lacking(case.policy, items, now))
    detail["documents"] = await uow.documents.of_case(case_id)
    detail["callbacks"] = await uow.callbacks.of_case(case_id)
    return detail


async def documents_shown(
    uow: UnitOfWork, case_id: UUID, agent: Agent, now: datetime
) -> list[dict[str, Any]]:
    """The case's documents, for `agent` to open: who looked at identity documents is recorded."""
    await get_case(uow, case_id)
    await uow.case_events.record(case_id, agent.subject, "documents_shown", now)
    return await uow.documents.of_case(case_id)


def _holding(case: Case, agent: Agent) -> None:
    if case.state != CaseState.in_review.value:
        raise DeskError(409, f"the case is {case.state}: claim it first")
    if case.claimed_by != agent.subject and not agent.supervisor:
        raise DeskError(403, "another agent holds this case")


async def save_checklist(
    uow: UnitOfWork, case_id: UUID, agent: Agent, items: list[ChecklistItem], now: datetime
) -> dict[str, Any]:
    case = await get_case(uow, case_id, lock=True)
    _holding(case, agent)
    saved = [item.model_dump(mode="json") for item in items]
    await uow.cases.save_checklist(case_id, saved)
    await uow.case_events.record(case_id, agent.subject, "checklist_saved", now, items=saved)
    return lacking(case.policy, items, now)


async def check_checklist(
    uow: UnitOfWork, case_id: UUID, items: list[ChecklistItem], now: datetime
) -> dict[str, Any]:
    """What `items` would still lack for the case's policy, saving nothing (the console shows
    it as the agent types: the policy's rules stay here, in one place)."""
    case = await get_case(uow, case_id)
    return lacking(case.policy, items, now)


async def decide(
    uow: UnitOfWork,
    case_id: UUID,
    agent: Agent,
    outcome: Outcome,
    reason: str | None,
    *,
    settings: VerificationSettings,
    now: datetime,
) -> dict[str, Any]:
    case = await get_case(uow, case_id, lock=True)
    _holding(case, agent)
    if outcome != "approved" and not (reason and reason.strip()):
        raise DeskError(400, f"a reason is required to decide {outcome}")
    if outcome == "approved":
        rules = unmet_rules(case.policy, CHECKLIST.validate_python(case.checklist), french_today(now))
        if rules:
            raise DeskError(400, f"the checklist does not satisfy the {case.policy} policy", rules)
    state = outcome if outcome in CLOSED else CaseState.more_documents.value
    await uow.cases.decide(case_id, Decision(state, outcome, reason, agent.subject, now))
    await uow.case_events.record(case_id, agent.subject, outcome, now, reason=reason)
    await uow.publish(
        VerificationDecided(
            correlation_id=case.letter_id,
            case_id=case_id,
            item_number=case.item_number,
            outcome=outcome,
            reason=reason,
            decided_at=now,
        )
    )
    if outcome == "approved":
        order = CodeOrder(
            case_id, case.letter_id, case.item_number, case.code_channel, case.code_address, case.language
        )
        if await codes.issue_code(uow, order, settings=settings, now=now) is None:
            # The pickup site holds the letter's codes after wrong ones: none is sent now.
            await uow.case_events.record(case_id, agent.subject, "code_withheld", now, reason="codes locked")
    return {"case_id": case_id, "state": state, "decision": outcome, "reason": reason}


async def log_callback(
    uow: UnitOfWork,
    case_id: UUID,
    agent: Agent,
    number: str,
    called_at: datetime,
    outcome: str,
    now: datetime,
) -> dict[str, Any]:
    case = await get_case(uow, case_id, lock=True)
    _holding(case, agent)
    callback_id = uuid.uuid4()
    await uow.callbacks.log(Callback(callback_id, case_id, number, called_at, outcome, agent.subject, now))
    await uow.case_events.record(
        case_id, agent.subject, "callback", now, number=number, called_at=called_at, outcome=outcome
    )
    return {"callback_id": callback_id}


async def audit_trail(uow: UnitOfWork, case_id: UUID, agent: Agent) -> list[dict[str, Any]]:
    case = await get_case(uow, case_id)
    if not agent.supervisor and agent.subject not in (case.claimed_by, case.decided_by):
        raise DeskError(403, "only a supervisor, or the agent who handled the case, reads its audit trail")
    return await uow.case_events.trail(case_id)


async def triage_list(uow: UnitOfWork) -> list[dict[str, Any]]:
    return await uow.triage.entries()


async def assign_triage(
    uow: UnitOfWork, triage_id: UUID, case_id: UUID, agent: Agent, now: datetime
) -> dict[str, Any]:
    """A supervisor files an unmatched message under its case: its documents join the case."""
    status = await uow.triage.status(triage_id)
    if status == "unknown":
        raise DeskError(404, "no such triage entry")
    if status == "assigned":
        raise DeskError(409, "this entry is already assigned")
    case = await get_case(uow, case_id, lock=True)
    if case.state in CLOSED:
        raise DeskError(409, f"the case is {case.state}")
    await uow.triage.assign(triage_id, case_id, agent.subject, now)
    moved = await uow.documents.move_from_triage(triage_id, case_id)
    state = await uow.cases.documents_arrived(case_id, now) if moved else case.state
    await uow.case_events.record(
        case_id, agent.subject, "triage_assigned", now, triage_id=triage_id, documents=moved
    )
    return {"case_id": case_id, "state": state, "documents": moved}


async def document_for_view(uow: UnitOfWork, document_id: UUID) -> dict[str, Any] | None:
    return await uow.documents.viewable(document_id)


# ------------------------------------------------------------------ letter locks


async def lift_lock(
    uow: UnitOfWork, item_number: str, agent: Agent, kinds: list[LockKind], reason: str, now: datetime
) -> dict[str, Any]:
    """A supervisor lifts the pickup site's holds on a letter (wrong identities or codes), for
    instance once the recipient has called support: a hold must not keep them out until the
    15-day window closes (CPCE R.53-3). Who asked and why join the letter's audit trail, and
    the command goes to the pickup service in the same transaction (outbox)."""
    if not agent.supervisor:
        raise DeskError(403, "only a supervisor lifts a letter's lock")
    if not reason.strip():
        raise DeskError(400, "a reason is required to lift a lock")
    letter_id = await uow.letters.with_item_number(item_number)
    if letter_id is None:
        raise DeskError(404, f"no letter has the item number {item_number}")
    chosen = tuple(dict.fromkeys(kinds))
    detail = {"kinds": [str(kind) for kind in chosen], "reason": reason}
    await uow.letter_events.record(letter_id, item_number, now, agent.subject, "lock_lifted", detail)
    await uow.publish(
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


async def letter_audit(uow: UnitOfWork, item_number: str) -> list[dict[str, Any]]:
    return await uow.letter_events.trail(item_number)
