"""The desk API's letter routes: a supervisor lifting the pickup site's holds on a letter,
and the letter's audit trail."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from lre_shared.contracts import LockKind
from verification.adapters.agents import SUPERVISOR
from verification.entrypoints import schemas
from verification.entrypoints.desk_web import API, DeskParts, Note, Operation
from verification.service_layer import desk
from verification.service_layer.desk import Agent


class LiftLockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kinds: list[LockKind] = Field(
        default=[LockKind.identity, LockKind.code], min_length=1, description="Which holds to lift."
    )
    reason: Note = Field(min_length=1, max_length=1000, description="Why: for the audit trail and evidence.")


class LetterRoutes(DeskParts):
    def letter_operations(self) -> list[Operation]:
        letter = API + "/letters/{item_number:item_number}"
        return [
            Operation(
                "POST",
                letter + "/lock/lift",
                SUPERVISOR,
                "Lift a letter's holds after wrong identities or codes, with a reason (supervisor)",
                self.lift_lock,
                schemas.LockLiftRequested,
                LiftLockBody,
            ),
            Operation(
                "GET",
                letter + "/audit",
                SUPERVISOR,
                "The letter's audit trail: its locks lifted, by whom and why (supervisor)",
                self.letter_audit,
                schemas.LetterAuditTrail,
            ),
        ]

    async def lift_lock(self, request: Request, agent: Agent, body: LiftLockBody) -> Any:
        item_number = request.path_params["item_number"]
        async with self.transactions() as uow:
            return await desk.lift_lock(uow, item_number, agent, body.kinds, body.reason, self.clock())

    async def letter_audit(self, request: Request, agent: Agent, _: None) -> Any:
        async with self.transactions() as uow:
            return {"events": await desk.letter_audit(uow, request.path_params["item_number"])}
