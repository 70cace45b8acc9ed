"""Every refusal of the desk's HTTP routes as RFC 9457 problem details
(`application/problem+json`): `type`, `title`, `status`, `detail` (what was wrong and what to
do), `instance` (the path asked for); `errors`, each field's problems, for a 422; `problems`,
each item a decision still lacks (the checklist against the sender's policy), in English, and
`unmet_rules`, the same as rule codes with their parameters.

A problem repeats of the client's own input only field names, as printable ASCII (`shown`):
never a value, which could carry a control or bidirectional character into a support UI.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic_core import to_json
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from verification.domain.policy import UnmetRule
from verification.entrypoints.desk_web import NO_STORE, shown
from verification.entrypoints.schemas import Problem
from verification.service_layer.desk import DeskError

MEDIA_TYPE = "application/problem+json"
_WHERE = frozenset({"body", "query", "path", "header", "cookie"})


def problem_response(
    status: int,
    detail: str,
    instance: str,
    *,
    errors: dict[str, list[str]] | None = None,
    unmet: Sequence[UnmetRule] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    # `about:blank`: the status says it all (RFC 9457 §4.2.1), so the title is its phrase.
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=errors,
        problems=[rule.text for rule in unmet] or None,
        unmet_rules=list(unmet) or None,
    )
    return Response(
        to_json(body.model_dump(exclude_none=True)),
        status,
        {**NO_STORE, **(headers or {})},
        media_type=MEDIA_TYPE,
    )


def instance(request: Request) -> str:
    """The path asked for, as a URI reference (percent-encoded, ASCII)."""
    return quote(request.url.path, safe="/:@!$&'()*+,;=-._~")


def field_errors(errors: Sequence[Any]) -> dict[str, list[str]]:
    """pydantic's errors by field (`items.0.number`), without the values sent."""
    by_field: dict[str, list[str]] = {}
    for error in errors:
        location = [part for part in error.get("loc", ()) if part not in _WHERE]
        message = str(error.get("msg", "not valid"))
        if error.get("type") == "json_invalid":
            location = []
            message = f"not JSON: {error.get('ctx', {}).get('error', 'malformed')}"
        field = ".".join(shown(part) for part in location) or "body"
        by_field.setdefault(field, []).append(shown(message, limit=300))
    return by_field


async def invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    return problem_response(
        422,
        f"the request is not valid ({', '.join(sorted(errors))}): see `errors`, by field",
        instance(request),
        errors=errors,
    )


async def refused_by_desk(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DeskError)
    return problem_response(exc.status, exc.reason, instance(request), unmet=exc.unmet)


async def http_refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else _PLAIN.get(exc.status_code)
    return problem_response(
        exc.status_code,
        str(detail or HTTPStatus(exc.status_code).phrase),
        instance(request),
        headers=dict(exc.headers or {}),
    )


async def failure(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (Starlette re-raises after answering); the client learns
    # nothing of the cause.
    return problem_response(500, "the desk failed to answer: try again later", instance(request))


_PLAIN = {
    404: "nothing here: check the path (case and triage ids are UUIDs, item numbers 12 digits)",
    405: "this path does not take this method",
}


def install(app: FastAPI) -> None:
    """Answer every refusal of `app` as problem details."""
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(DeskError, refused_by_desk)
    app.add_exception_handler(HTTPException, http_refusal)
    app.add_exception_handler(Exception, failure)


_REFUSALS = {
    400: "refused: `detail` says why, `problems` lists what the decision still lacks",
    401: "missing, expired or wrongly signed token, or an ended console session (with a `WWW-Authenticate`"
    " challenge)",
    403: "the token or session lacks the role, the session's `X-CSRF-Token` is missing or wrong, or another"
    " agent holds the case",
    404: "no such case, triage entry or letter",
    409: "the case or entry is not in a state that allows this (not claimed, already decided or assigned)",
    413: "the request body is over the limit",
    422: "the request does not match its schema: `errors` names each field and its problem",
}
# Every route's refusals in OpenAPI, as problem details (the schema joins the components in
# `verification.entrypoints.desk.desk_api`).
REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": text,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, text in _REFUSALS.items()
}
