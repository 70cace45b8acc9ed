"""The desk API's triage routes: inbound messages that matched no open case, and a
supervisor filing one under its case."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from verification.adapters.agents import AGENT, SUPERVISOR
from verification.entrypoints import schemas
from verification.entrypoints.desk_auth import AnyAgent, Parts, Supervisor, required_role
from verification.entrypoints.desk_web import API
from verification.entrypoints.problems import REFUSALS
from verification.service_layer import desk

router = APIRouter(prefix=API + "/triage", tags=["triage"], responses=REFUSALS)


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: UUID


@router.get("", response_model=schemas.TriageList, openapi_extra=required_role(AGENT))
async def triage(parts: Parts, agent: AnyAgent) -> Any:
    """Inbound messages that matched no open case"""
    async with parts.transactions() as uow:
        return {"entries": await desk.triage_list(uow)}


@router.post(
    "/{triage_id:uuid}/assign", response_model=schemas.Assigned, openapi_extra=required_role(SUPERVISOR)
)
async def assign(parts: Parts, agent: Supervisor, triage_id: UUID, body: AssignBody) -> Any:
    """File a triage entry's documents under a case (supervisor)"""
    async with parts.transactions() as uow:
        return await desk.assign_triage(uow, triage_id, body.case_id, agent, parts.clock())
