"""The support desk over HTTP: a JSON API on FastAPI (described in OpenAPI at
/desk/api/openapi.json and in docs/openapi/verification-desk.json) that the desk's own
console page and an external support UI use alike, and the site serving it beside the
console and the documents' links.

Every API route wants `Authorization: Bearer <token>`, an OIDC token of the organisation's
identity provider, and a role: `agent`, or `supervisor` for assigning triage and a letter's
holds (`desk_auth`). Every refusal is RFC 9457 problem details (`problems`). Documents are
shown through short-lived signed links of this service (`domain.links`), decrypted on the
fly: never a public or presigned S3 URL.

Text an agent types (checklist lines, reasons, call notes) is held to the platform's rule
for text (`lre_shared.text`: no control, format or private-use character, no lone
surrogate), line breaks allowed in notes; anything else is answered 422 naming the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.applications import Starlette
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from verification.adapters.agents import AGENT
from verification.domain import links
from verification.entrypoints import desk_cases, desk_letters, desk_session, desk_triage, problems, schemas
from verification.entrypoints.desk_auth import AnyAgent, required_role
from verification.entrypoints.desk_web import (
    API,
    DOCUMENTS,
    NO_STORE,
    BodyLimit,
    DeskParts,
    NoStore,
    inline_disposition,
)
from verification.service_layer import desk

STATIC = Path(__file__).parent / "static"
# Far above any body the API takes (20 checklist lines, notes of 1,000 characters).
MAX_BODY_BYTES = 64 * 1024


def desk_api(parts: DeskParts) -> FastAPI:
    """The desk's JSON API: its routers, the token and role dependencies, problem details."""
    app = FastAPI(
        title="LRE verification desk",
        version="1",
        description="Support staff verify recipients' identity documents (DESIGN §2 step 5).",
        # Served below, behind the token like every route; no interactive pages (they load
        # scripts from a CDN, which the desk's policy forbids).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,  # operationId: the function's name
    )
    app.state.desk = parts
    for router in (desk_cases.router, desk_triage.router, desk_letters.router):
        app.include_router(router)

    @app.get(
        API + "/openapi.json",
        response_model=schemas.OpenApiDocument,
        responses=problems.REFUSALS,
        openapi_extra=required_role(AGENT),
        tags=["api"],
    )
    async def openapi(request: Request, agent: AnyAgent) -> Response:
        """This API's OpenAPI description"""
        return JSONResponse(request.app.openapi(), headers=NO_STORE)

    problems.install(app)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(NoStore)
    _describe_problems(app)
    return app


def _describe_problems(app: FastAPI) -> None:
    """`app.openapi()` with the problem details schema that every route's refusals name."""
    generate = app.openapi

    def described() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schema = schemas.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components = document.setdefault("components", {}).setdefault("schemas", {})
            # The models it names (an unmet rule and its code) join the components beside it.
            for name, named in schema.pop("$defs", {}).items():
                components.setdefault(name, named)
            components["Problem"] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = described  # type: ignore[method-assign]


def desk_site(parts: DeskParts, *routes: BaseRoute) -> Starlette:
    """The service's web site: the console, the documents' links, `routes` (the MMS webhook),
    and everything else to the API."""

    async def show_document(request: Request) -> Response:
        """A document behind a short-lived signed link, decrypted on the fly"""
        document_id = links.verify(parts.link_key, request.path_params["token"], parts.clock())
        path = problems.instance(request)
        if document_id is None:
            return problems.problem_response(
                403, "this link is invalid or has expired: open the case's documents again", path
            )
        async with parts.transactions() as uow:
            row = await desk.document_for_view(uow, document_id)
        if row is None:
            return problems.problem_response(404, "this document was deleted (retention period over)", path)
        content = await parts.vault.get(row["object_key"])
        headers = {
            **NO_STORE,
            "content-disposition": inline_disposition(row["filename"]),
            "content-security-policy": "default-src 'none'; img-src 'self'; sandbox",
        }
        return Response(content, 200, headers, media_type=row["content_type"])

    return Starlette(
        routes=[
            Route(DOCUMENTS + "{token}", show_document, methods=["GET"]),
            Route("/desk/", console_page, methods=["GET"]),
            *(Route("/desk/" + name, console_file, methods=["GET"]) for name in CONSOLE_FILES),
            # The console's sign-in with the identity provider, its session and sign-out.
            *desk_session.routes(parts),
            *routes,
            # Last: the API's routes carry their full paths (/desk/api/...).
            Mount("", app=desk_api(parts)),
        ]
    )


CONSOLE_HEADERS = {
    **NO_STORE,
    # form-action 'self': signing out is a form posted to /desk/auth/logout.
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none';"
    " object-src 'none'; form-action 'self'",
    "x-frame-options": "DENY",
}
# The console's files beside its page (plain ES module, style sheet, one catalogue of text
# per language), each with its type: nothing else of the directory is served.
CONSOLE_FILES = {
    "console.js": "text/javascript",
    "console.css": "text/css",
    "console.fr.json": "application/json",
    "console.en.json": "application/json",
}


async def console_page(request: Request) -> Response:
    """The desk console (a page holding no data: it reads the JSON API in the agent's session)"""
    return FileResponse(STATIC / "console.html", headers=CONSOLE_HEADERS, media_type="text/html")


async def console_file(request: Request) -> Response:
    """One of the console's files"""
    name = request.url.path.removeprefix("/desk/")
    return FileResponse(STATIC / name, headers=CONSOLE_HEADERS, media_type=CONSOLE_FILES[name])
