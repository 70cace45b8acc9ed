"""The support desk over HTTP: a JSON API (described in OpenAPI at /desk/api/openapi.json)
that the desk's own console page and an external support UI use alike.

Every API route wants `Authorization: Bearer <token>`, an OIDC token of the organisation's
identity provider (see `adapters.agents`), and a role: `agent`, or `supervisor` for
assigning triage. A missing, expired or wrongly signed token is answered 401, a token
without the role 403. Documents are shown through short-lived signed links of this
service (`domain.links`), decrypted on the fly: never a public or presigned S3 URL.

Text an agent types (checklist lines, reasons, call notes) is held to the platform's rule
for text (`lre_shared.text`: no control, format or private-use character, no lone
surrogate), line breaks allowed in notes; anything else is answered 422 naming the field.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import to_json
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from lre_shared.bus import Transaction
from lre_shared.messages import E164_PATTERN, CaseState, LockKind
from lre_shared.text import text_fault
from verification.adapters.agents import AGENT, SUPERVISOR, TokenVerifier, Unauthenticated
from verification.adapters.vault import DocumentVault
from verification.domain import links
from verification.domain.policy import ChecklistItem
from verification.entrypoints import schemas
from verification.service_layer import desk
from verification.service_layer.desk import Agent, DeskError
from verification.settings import VerificationSettings


class ItemNumber(Convertor[str]):
    """An item number in a path: its 12 digits, nothing else."""

    regex = "[0-9]{12}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("item_number", ItemNumber())

API = "/desk/api"
DOCUMENTS = "/desk/documents/"
STATIC = Path(__file__).parent / "static"
NO_STORE = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


# ------------------------------------------------------------------------ bodies

_LINE_BREAKS = str.maketrans("\t\n\r", "   ")


def _note(value: str) -> str:
    # Notes may run over several lines (a textarea); otherwise the platform's rule for text.
    if fault := text_fault(value.translate(_LINE_BREAKS)):
        raise ValueError(fault)
    return value


Note = Annotated[str, AfterValidator(_note)]


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


class LiftLockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kinds: list[LockKind] = Field(
        default=[LockKind.identity, LockKind.code], min_length=1, description="Which holds to lift."
    )
    reason: Note = Field(min_length=1, max_length=1000, description="Why: for the audit trail and evidence.")


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: UUID


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(content), status, {**NO_STORE, **(headers or {})}, media_type="application/json")


def shown(value: object, limit: int = 60) -> str:
    """Printable ASCII, bounded: what of a client's own input an answer may repeat."""
    return "".join(c if " " <= c <= "~" else "?" for c in str(value)[:limit])


def inline_disposition(filename: str) -> str:
    """`Content-Disposition` for a document's name in any script (RFC 6266): the name in
    UTF-8 (RFC 5987 `filename*`), and an ASCII approximation for clients without it."""
    decomposed = unicodedata.normalize("NFKD", filename)
    fallback = "".join(
        c if " " <= c <= "~" and c not in '"\\' else "" if unicodedata.combining(c) else "_"
        for c in decomposed
    )
    encoded = quote(filename, safe="", errors="replace")
    return f"inline; filename=\"{fallback[:150]}\"; filename*=UTF-8''{encoded}"


def problem(
    status: int, reason: str, problems: list[str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    return json_response({"error": reason, "problems": problems or []}, status, headers)


# ---------------------------------------------------------------------- operations

Endpoint = Callable[[Request, Agent, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    role: str
    summary: str
    endpoint: Endpoint
    answer: type[BaseModel]
    body: type[BaseModel] | None = None


@dataclass
class DeskApi:
    pool: Callable[[], asyncpg.Pool]
    vault: DocumentVault
    verifier: TokenVerifier
    settings: VerificationSettings
    clock: Callable[[], datetime]
    link_key: bytes

    def operations(self) -> list[Operation]:
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
            Operation(
                "POST",
                API + "/letters/{item_number:item_number}/lock/lift",
                SUPERVISOR,
                "Lift a letter's holds after wrong identities or codes, with a reason (supervisor)",
                self.lift_lock,
                schemas.LockLiftRequested,
                LiftLockBody,
            ),
            Operation(
                "GET",
                API + "/letters/{item_number:item_number}/audit",
                SUPERVISOR,
                "The letter's audit trail: its locks lifted, by whom and why (supervisor)",
                self.letter_audit,
                schemas.LetterAuditTrail,
            ),
            Operation(
                "GET",
                API + "/openapi.json",
                AGENT,
                "This API's OpenAPI description",
                self.openapi,
                schemas.OpenApiDocument,
            ),
        ]

    # -- endpoints

    async def list_cases(self, request: Request, agent: Agent, _: None) -> Any:
        state = request.query_params.get("state")
        if state is not None and state not in CaseState.__members__:
            raise DeskError(400, f"state must be one of {', '.join(CaseState.__members__)}")
        async with self.pool().acquire() as conn:
            return {"cases": await desk.queue(conn, self.clock(), state)}

    async def claim(self, request: Request, agent: Agent, _: None) -> Any:
        hold = timedelta(minutes=self.settings.claim_minutes)
        return {"case": await desk.claim(self.pool(), agent, self.clock(), hold)}

    async def get_case(self, request: Request, agent: Agent, _: None) -> Any:
        async with self.pool().acquire() as conn:
            return await desk.case_detail(conn, request.path_params["case_id"], self.clock())

    async def documents(self, request: Request, agent: Agent, _: None) -> Any:
        now = self.clock()
        expires = now + timedelta(seconds=self.settings.document_link_seconds)
        async with self.pool().acquire() as conn, conn.transaction():
            rows = await desk.documents_shown(conn, request.path_params["case_id"], agent, now)
        for row in rows:
            if row["deleted_at"] is None:
                row["url"] = DOCUMENTS + links.sign(self.link_key, row["document_id"], expires)
                row["url_expires_at"] = expires
        return {"documents": rows}

    async def checklist(self, request: Request, agent: Agent, body: ChecklistBody) -> Any:
        async with self.pool().acquire() as conn, conn.transaction():
            return await desk.save_checklist(
                conn, request.path_params["case_id"], agent, body.items, self.clock()
            )

    async def decide(self, request: Request, agent: Agent, body: DecisionBody) -> Any:
        async with self.pool().acquire() as conn, conn.transaction():
            return await desk.decide(
                Transaction(conn),
                request.path_params["case_id"],
                agent,
                body.outcome,
                body.reason,
                settings=self.settings,
                now=self.clock(),
            )

    async def callback(self, request: Request, agent: Agent, body: CallbackBody) -> Any:
        async with self.pool().acquire() as conn, conn.transaction():
            return await desk.log_callback(
                conn,
                request.path_params["case_id"],
                agent,
                body.number,
                body.called_at,
                body.outcome,
                self.clock(),
            )

    async def audit(self, request: Request, agent: Agent, _: None) -> Any:
        async with self.pool().acquire() as conn:
            return {"events": await desk.audit_trail(conn, request.path_params["case_id"], agent)}

    async def triage(self, request: Request, agent: Agent, _: None) -> Any:
        async with self.pool().acquire() as conn:
            return {"entries": await desk.triage_list(conn)}

    async def assign(self, request: Request, agent: Agent, body: AssignBody) -> Any:
        async with self.pool().acquire() as conn, conn.transaction():
            return await desk.assign_triage(
                conn, request.path_params["triage_id"], body.case_id, agent, self.clock()
            )

    async def lift_lock(self, request: Request, agent: Agent, body: LiftLockBody) -> Any:
        async with self.pool().acquire() as conn, conn.transaction():
            return await desk.lift_lock(
                Transaction(conn),
                request.path_params["item_number"],
                agent,
                body.kinds,
                body.reason,
                self.clock(),
            )

    async def letter_audit(self, request: Request, agent: Agent, _: None) -> Any:
        async with self.pool().acquire() as conn:
            return {"events": await desk.letter_audit(conn, request.path_params["item_number"])}

    async def openapi(self, request: Request, agent: Agent, _: None) -> Any:
        return openapi(self.operations())

    # -- guard

    async def authenticate(self, request: Request, role: str) -> Agent | Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = 'Bearer realm="lre-desk"'
        if scheme.lower() != "bearer" or not token:
            return problem(401, "a bearer token is required", headers={"www-authenticate": challenge})
        try:
            claims = await asyncio.to_thread(self.verifier.verify, token.strip())
        except Unauthenticated as exc:
            return problem(
                401,
                f"invalid token: {exc}",
                headers={"www-authenticate": challenge + ', error="invalid_token"'},
            )
        roles = self.verifier.roles(claims)
        if role not in roles and SUPERVISOR not in roles:
            return problem(403, f"the {role} role is required", headers={"www-authenticate": challenge})
        return Agent(subject=str(claims["sub"]), supervisor=SUPERVISOR in roles)

    def route(self, operation: Operation) -> Route:
        async def endpoint(request: Request) -> Response:
            agent = await self.authenticate(request, operation.role)
            if isinstance(agent, Response):
                return agent
            body = None
            if operation.body is not None:
                try:
                    body = operation.body.model_validate_json(await request.body())
                except ValidationError as exc:
                    # `loc` may hold a key the client sent: repeated only as printable ASCII.
                    details = [f"{'.'.join(map(shown, e['loc']))}: {e['msg']}" for e in exc.errors()]
                    return problem(422, "the request body is not valid", details)
            try:
                return json_response(await operation.endpoint(request, agent, body))
            except DeskError as exc:
                return problem(exc.status, exc.reason, exc.problems)

        endpoint.__doc__ = operation.summary
        endpoint.__name__ = operation.endpoint.__name__
        return Route(operation.path, endpoint, methods=[operation.method])

    async def show_document(self, request: Request) -> Response:
        """A document behind a short-lived signed link, decrypted on the fly"""
        document_id = links.verify(self.link_key, request.path_params["token"], self.clock())
        if document_id is None:
            return problem(403, "this link is invalid or has expired: open the case's documents again")
        async with self.pool().acquire() as conn:
            row = await desk.document_for_view(conn, document_id)
        if row is None:
            return problem(404, "this document was deleted (retention period over)")
        content = await self.vault.get(row["object_key"])
        headers = {
            **NO_STORE,
            "content-disposition": inline_disposition(row["filename"]),
            "content-security-policy": "default-src 'none'; img-src 'self'; sandbox",
        }
        return Response(content, 200, headers, media_type=row["content_type"])

    def routes(self) -> list[BaseRoute]:
        return [
            *(self.route(operation) for operation in self.operations()),
            Route(DOCUMENTS + "{token}", self.show_document, methods=["GET"]),
            Route("/desk/", console_page, methods=["GET"]),
            Route("/desk/console.js", console_script, methods=["GET"]),
        ]


CONSOLE_HEADERS = {
    **NO_STORE,
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none';"
    " object-src 'none'; form-action 'none'",
    "x-frame-options": "DENY",
}


async def console_page(request: Request) -> Response:
    """The desk console (a page holding no data: it reads the JSON API with the agent's token)"""
    return FileResponse(STATIC / "console.html", headers=CONSOLE_HEADERS, media_type="text/html")


async def console_script(request: Request) -> Response:
    """The console's script"""
    return FileResponse(STATIC / "console.js", headers=CONSOLE_HEADERS, media_type="text/javascript")


ERRORS = {
    "400": "refused: `error` says why, `problems` lists what is missing",
    "401": "missing, expired or wrongly signed token",
    "403": "the token lacks the role, or another agent holds the case",
    "404": "no such case (or letter)",
    "409": "the case is not in a state that allows this",
    "422": "the body does not match its schema",
}


def _json(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """A reference to `model`'s schema, which joins `components` with the models it uses."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def openapi(operations: list[Operation]) -> dict[str, Any]:
    """OpenAPI 3.1 of the desk API: bodies and answers from their pydantic models."""
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    refusal = _json(schemas.Problem, components)
    for op in operations:
        path = op.path.replace(":uuid", "").replace(":item_number", "")
        responses: dict[str, Any] = {
            "200": {"description": op.answer.__doc__ or "OK", "content": _json(op.answer, components)}
        }
        responses |= {status: {"description": text, "content": refusal} for status, text in ERRORS.items()}
        operation: dict[str, Any] = {
            "summary": op.summary,
            "operationId": op.endpoint.__name__,
            "security": [{"bearer": []}],
            "x-required-role": op.role,
            "responses": responses,
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
            for name in ("case_id", "triage_id")
            if "{" + name in op.path
        ]
        if "{item_number" in op.path:
            item = {"type": "string", "pattern": "^[0-9]{12}$", "description": "Numéro de pli."}
            parameters.append({"name": "item_number", "in": "path", "required": True, "schema": item})
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            operation["requestBody"] = {"required": True, "content": _json(op.body, components)}
        paths.setdefault(path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LRE verification desk",
            "version": "1",
            "description": "Support staff verify recipients' identity documents (DESIGN §2 step 5).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
