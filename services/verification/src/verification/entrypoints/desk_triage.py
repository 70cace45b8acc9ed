"""The desk API's triage routes: inbound messages that matched no open case, and a
supervisor filing one under its case."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request

from verification.adapters.agents import AGENT, SUPERVISOR
from verification.entrypoints import schemas
from verification.entrypoints.desk_web import API, DeskParts, Operation
from verification.service_layer import desk
from verification.service_layer.desk import Agent


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: UUID


class TriageRoutes(DeskParts):
    def triage_operations(self) -> list[Operation]:
        return [
            Operation(
                "GET",
                API + "/triage",
                AGENT,
                "Inbound messages that matched no open case",
                self.triage,
                schemas.TriageList,
            ),
            Operation(
                "POST",
                API + "/triage/{triage_id:uuid}/assign",
                SUPERVISOR,
                "File a triage entry's documents under a case (supervisor)",
                self.assign,
                schemas.Assigned,
                AssignBody,
            ),
        ]

    async def triage(self, request: Request, agent: Agent, _: None) -> Any:
        async with self.transactions() as uow:
            return {"entries": await desk.triage_list(uow)}

    async def assign(self, request: Request, agent: Agent, body: AssignBody) -> Any:
        triage_id = request.path_params["triage_id"]
        async with self.transactions() as uow:
            return await desk.assign_triage(uow, triage_id, body.case_id, agent, self.clock())
