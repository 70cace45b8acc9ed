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
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from verification.adapters.agents import AGENT, SUPERVISOR, Unauthenticated
from verification.entrypoints import schemas
from verification.entrypoints.desk_cases import CaseRoutes
from verification.entrypoints.desk_letters import LetterRoutes
from verification.entrypoints.desk_triage import TriageRoutes
from verification.entrypoints.desk_web import (
    API,
    DOCUMENTS,
    NO_STORE,
    Operation,
    json_response,
    problem,
    shown,
)
from verification.service_layer.desk import Agent, DeskError

STATIC = Path(__file__).parent / "static"


class DeskApi(CaseRoutes, TriageRoutes, LetterRoutes):
    """The desk API: its route groups, behind the token guard."""

    def operations(self) -> list[Operation]:
        return [
            *self.case_operations(),
            *self.triage_operations(),
            *self.letter_operations(),
            Operation(
                "GET",
                API + "/openapi.json",
                AGENT,
                "This API's OpenAPI description",
                self.openapi,
                schemas.OpenApiDocument,
            ),
        ]

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
