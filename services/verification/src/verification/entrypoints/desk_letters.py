"""The desk API's letter routes: a supervisor lifting the pickup site's holds on a letter,
and the letter's audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from lre_shared.contracts import LockKind
from verification.adapters.agents import SUPERVISOR
from verification.entrypoints import schemas
from verification.entrypoints.desk_auth import Parts, Supervisor, required_role
from verification.entrypoints.desk_web import API, Note
from verification.entrypoints.problems import REFUSALS
from verification.service_layer import desk

router = APIRouter(prefix=API + "/letters/{item_number:item_number}", tags=["letters"], responses=REFUSALS)
ItemNumber = Annotated[str, Path(pattern="^[0-9]{12}$", description="Numéro de pli.")]


class LiftLockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kinds: list[LockKind] = Field(
        default=[LockKind.identity, LockKind.code], min_length=1, description="Which holds to lift."
    )
    reason: Note = Field(min_length=1, max_length=1000, description="Why: for the audit trail and evidence.")


@router.post("/lock/lift", response_model=schemas.LockLiftRequested, openapi_extra=required_role(SUPERVISOR))
async def lift_lock(parts: Parts, agent: Supervisor, item_number: ItemNumber, body: LiftLockBody) -> Any:
    """Lift a letter's holds after wrong identities or codes, with a reason (supervisor)"""
    async with parts.transactions() as uow:
        return await desk.lift_lock(uow, item_number, agent, body.kinds, body.reason, parts.clock())


@router.get("/audit", response_model=schemas.LetterAuditTrail, openapi_extra=required_role(SUPERVISOR))
async def letter_audit(parts: Parts, agent: Supervisor, item_number: ItemNumber) -> Any:
    """The letter's audit trail: its locks lifted, by whom and why (supervisor)"""
    async with parts.transactions() as uow:
        return {"events": await desk.letter_audit(uow, item_number)}
