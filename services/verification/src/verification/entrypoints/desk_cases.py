"""The desk API's case routes: the queue, claiming, a case and its documents (each with a
short-lived link), the checklist, decisions, callbacks and the audit trail."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from lre_shared.contracts import E164_PATTERN, CaseState
from verification.adapters.agents import AGENT
from verification.domain import links
from verification.domain.policy import ChecklistItem
from verification.entrypoints import schemas
from verification.entrypoints.desk_auth import AnyAgent, Parts, required_role
from verification.entrypoints.desk_web import API, DOCUMENTS, Note
from verification.entrypoints.problems import REFUSALS
from verification.service_layer import desk

router = APIRouter(prefix=API + "/cases", tags=["cases"], responses=REFUSALS)
CASE = "/{case_id:uuid}"


class ChecklistBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ChecklistItem] = Field(max_length=20)


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["approved", "rejected", "more_documents"]
    reason: Note | None = Field(default=None, max_length=1000, description="Required unless approved.")


class CallbackBody(BaseModel):
    """A phone call to the firm's landline to confirm the request."""

    model_config = ConfigDict(extra="forbid")
    number: str = Field(pattern=E164_PATTERN, description="The number called, E.164.")
    called_at: datetime
    outcome: Note = Field(min_length=1, max_length=500, description="What the call established.")


@router.get(
    "",
    response_model=schemas.CaseList,
    openapi_extra=required_role(AGENT),
    responses={304: {"description": "The queue is as the `If-None-Match` ETag says (ages aside)."}},
)
async def list_cases(
    parts: Parts,
    agent: AnyAgent,
    response: Response,
    state: CaseState | None = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """The queue: open cases, oldest first, with their age and the desk's target time
    (?state= one case state). Its weak ETag covers everything but the ages, which the server's
    `now` lets a client count: a console polling with `If-None-Match` is answered 304 while
    the queue stands still."""
    now = parts.clock()
    async with parts.transactions() as uow:
        cases = await desk.queue(uow, now, state)
    target = parts.settings.desk_target_minutes
    etag = queue_etag(cases, target)
    if if_none_match is not None and etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers={"etag": etag})
    response.headers["etag"] = etag
    return {"cases": cases, "target_minutes": target, "now": now}


def queue_etag(cases: list[dict[str, Any]], target_minutes: int) -> str:
    """A weak validator (RFC 9110 §8.8.1) of the queue: equal while only the ages change."""
    unaged = [{key: value for key, value in case.items() if key != "age_seconds"} for case in cases]
    digest = hashlib.sha256(json.dumps([unaged, target_minutes], default=str, sort_keys=True).encode())
    return f'W/"{digest.hexdigest()[:32]}"'


@router.post("/claim", response_model=schemas.Claimed, openapi_extra=required_role(AGENT))
async def claim(parts: Parts, agent: AnyAgent) -> Any:
    """Claim the next waiting case (never one another agent holds); {case: null} when none waits"""
    hold = timedelta(minutes=parts.settings.claim_minutes)
    async with parts.transactions() as uow:
        return {"case": await desk.claim(uow, agent, parts.clock(), hold)}


# Unset: a deleted document has no link (`url`), not a null one.
@router.get(
    CASE,
    response_model=schemas.CaseDetail,
    response_model_exclude_unset=True,
    openapi_extra=required_role(AGENT),
)
async def get_case(parts: Parts, agent: AnyAgent, case_id: UUID) -> Any:
    """A case: policy, checklist and what it lacks, documents, callbacks"""
    async with parts.transactions() as uow:
        return await desk.case_detail(uow, case_id, parts.clock())


@router.get(
    CASE + "/documents",
    response_model=schemas.DocumentList,
    response_model_exclude_unset=True,
    openapi_extra=required_role(AGENT),
)
async def documents(parts: Parts, agent: AnyAgent, case_id: UUID) -> Any:
    """The case's documents, each with a short-lived link"""
    now = parts.clock()
    expires = now + timedelta(seconds=parts.settings.document_link_seconds)
    async with parts.transactions() as uow:
        rows = await desk.documents_shown(uow, case_id, agent, now)
    for row in rows:
        if row["deleted_at"] is None:
            row["url"] = DOCUMENTS + links.sign(parts.link_key, row["document_id"], expires)
            row["url_expires_at"] = expires
    return {"documents": rows}


@router.put(CASE + "/checklist", response_model=schemas.ChecklistSaved, openapi_extra=required_role(AGENT))
async def checklist(parts: Parts, agent: AnyAgent, case_id: UUID, body: ChecklistBody) -> Any:
    """Fill the checklist (the agent holding the case)"""
    async with parts.transactions() as uow:
        return await desk.save_checklist(uow, case_id, agent, body.items, parts.clock())


@router.post(
    CASE + "/checklist/check", response_model=schemas.ChecklistChecked, openapi_extra=required_role(AGENT)
)
async def check_checklist(parts: Parts, agent: AnyAgent, case_id: UUID, body: ChecklistBody) -> Any:
    """What a checklist would still lack for the case's policy, saving nothing (a dry run)"""
    async with parts.transactions() as uow:
        return await desk.check_checklist(uow, case_id, body.items, parts.clock())


@router.post(CASE + "/decision", response_model=schemas.Decided, openapi_extra=required_role(AGENT))
async def decide(parts: Parts, agent: AnyAgent, case_id: UUID, body: DecisionBody) -> Any:
    """Approve (the code is sent), reject with a reason, or ask for more documents"""
    async with parts.transactions() as uow:
        return await desk.decide(
            uow, case_id, agent, body.outcome, body.reason, settings=parts.settings, now=parts.clock()
        )


@router.post(CASE + "/callbacks", response_model=schemas.CallbackLogged, openapi_extra=required_role(AGENT))
async def callback(parts: Parts, agent: AnyAgent, case_id: UUID, body: CallbackBody) -> Any:
    """Log a phone callback to the firm's landline"""
    async with parts.transactions() as uow:
        return await desk.log_callback(
            uow, case_id, agent, body.number, body.called_at, body.outcome, parts.clock()
        )


@router.get(CASE + "/audit", response_model=schemas.AuditTrail, openapi_extra=required_role(AGENT))
async def audit(parts: Parts, agent: AnyAgent, case_id: UUID) -> Any:
    """The case's audit trail (its agent, or a supervisor)"""
    async with parts.transactions() as uow:
        return {"events": await desk.audit_trail(uow, case_id, agent)}
