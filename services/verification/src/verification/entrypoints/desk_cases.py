"""The desk API's case routes: the queue, claiming, a case and its documents, the checklist,
decisions, callbacks and the audit trail; and the documents' short-lived links."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from lre_shared.contracts import E164_PATTERN, CaseState
from verification.adapters.agents import AGENT
from verification.domain import links
from verification.domain.policy import ChecklistItem
from verification.entrypoints import schemas
from verification.entrypoints.desk_web import (
    API,
    DOCUMENTS,
    NO_STORE,
    DeskParts,
    Note,
    Operation,
    inline_disposition,
    problem,
)
from verification.service_layer import desk
from verification.service_layer.desk import Agent, DeskError


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


class CaseRoutes(DeskParts):
    def case_operations(self) -> list[Operation]:
        case = API + "/cases/{case_id:uuid}"
        return [
            Operation(
                "GET",
                API + "/cases",
                AGENT,
                "The queue: open cases, oldest first, with their age (?state= one case state)",
                self.list_cases,
                schemas.CaseList,
            ),
            Operation(
                "POST",
                API + "/cases/claim",
                AGENT,
                "Claim the next waiting case (never one another agent holds); {case: null} when none waits",
                self.claim,
                schemas.Claimed,
            ),
            Operation(
                "GET",
                case,
                AGENT,
                "A case: policy, checklist and what it lacks, documents, callbacks",
                self.get_case,
                schemas.CaseDetail,
            ),
            Operation(
                "GET",
                case + "/documents",
                AGENT,
                "The case's documents, each with a short-lived link",
                self.documents,
                schemas.DocumentList,
            ),
            Operation(
                "PUT",
                case + "/checklist",
                AGENT,
                "Fill the checklist (the agent holding the case)",
                self.checklist,
                schemas.ChecklistSaved,
                ChecklistBody,
            ),
            Operation(
                "POST",
                case + "/decision",
                AGENT,
                "Approve (the code is sent), reject with a reason, or ask for more documents",
                self.decide,
                schemas.Decided,
                DecisionBody,
            ),
            Operation(
                "POST",
                case + "/callbacks",
                AGENT,
                "Log a phone callback to the firm's landline",
                self.callback,
                schemas.CallbackLogged,
                CallbackBody,
            ),
            Operation(
                "GET",
                case + "/audit",
                AGENT,
                "The case's audit trail (its agent, or a supervisor)",
                self.audit,
                schemas.AuditTrail,
            ),
        ]

    async def list_cases(self, request: Request, agent: Agent, _: None) -> Any:
        state = request.query_params.get("state")
        if state is not None and state not in CaseState.__members__:
            raise DeskError(400, f"state must be one of {', '.join(CaseState.__members__)}")
        async with self.transactions() as uow:
            return {"cases": await desk.queue(uow, self.clock(), state)}

    async def claim(self, request: Request, agent: Agent, _: None) -> Any:
        hold = timedelta(minutes=self.settings.claim_minutes)
        async with self.transactions() as uow:
            return {"case": await desk.claim(uow, agent, self.clock(), hold)}

    async def get_case(self, request: Request, agent: Agent, _: None) -> Any:
        async with self.transactions() as uow:
            return await desk.case_detail(uow, request.path_params["case_id"], self.clock())

    async def documents(self, request: Request, agent: Agent, _: None) -> Any:
        now = self.clock()
        expires = now + timedelta(seconds=self.settings.document_link_seconds)
        async with self.transactions() as uow:
            rows = await desk.documents_shown(uow, request.path_params["case_id"], agent, now)
        for row in rows:
            if row["deleted_at"] is None:
                row["url"] = DOCUMENTS + links.sign(self.link_key, row["document_id"], expires)
                row["url_expires_at"] = expires
        return {"documents": rows}

    async def checklist(self, request: Request, agent: Agent, body: ChecklistBody) -> Any:
        async with self.transactions() as uow:
            return await desk.save_checklist(
                uow, request.path_params["case_id"], agent, body.items, self.clock()
            )

    async def decide(self, request: Request, agent: Agent, body: DecisionBody) -> Any:
        case_id = request.path_params["case_id"]
        async with self.transactions() as uow:
            return await desk.decide(
                uow, case_id, agent, body.outcome, body.reason, settings=self.settings, now=self.clock()
            )

    async def callback(self, request: Request, agent: Agent, body: CallbackBody) -> Any:
        case_id = request.path_params["case_id"]
        async with self.transactions() as uow:
            return await desk.log_callback(
                uow, case_id, agent, body.number, body.called_at, body.outcome, self.clock()
            )

    async def audit(self, request: Request, agent: Agent, _: None) -> Any:
        async with self.transactions() as uow:
            return {"events": await desk.audit_trail(uow, request.path_params["case_id"], agent)}

    async def show_document(self, request: Request) -> Response:
        """A document behind a short-lived signed link, decrypted on the fly"""
        document_id = links.verify(self.link_key, request.path_params["token"], self.clock())
        if document_id is None:
            return problem(403, "this link is invalid or has expired: open the case's documents again")
        async with self.transactions() as uow:
            row = await desk.document_for_view(uow, document_id)
        if row is None:
            return problem(404, "this document was deleted (retention period over)")
        content = await self.vault.get(row["object_key"])
        headers = {
            **NO_STORE,
            "content-disposition": inline_disposition(row["filename"]),
            "content-security-policy": "default-src 'none'; img-src 'self'; sandbox",
        }
        return Response(content, 200, headers, media_type=row["content_type"])
