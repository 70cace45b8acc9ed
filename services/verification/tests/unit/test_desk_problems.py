"""Every refusal of the desk API is RFC 9457 problem details (`application/problem+json`):
`type`, `title`, `status`, `detail`, `instance`, each invalid field named under `errors`,
never a value sent repeated; and the OpenAPI document published in docs/ is the one the
API's FastAPI app gives."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from docs.generate import DOCS
from lre_shared import docs
from services.verification.tests.unit.fakes import InMemoryUnitOfWork, InMemoryVault
from verification.adapters.agents import TokenVerifier
from verification.domain.cases import Case
from verification.entrypoints.desk import desk_api, desk_site
from verification.entrypoints.desk_token import LOCAL_AUDIENCE, LOCAL_ISSUER, ensure_local_keys, issue_token
from verification.entrypoints.desk_web import DeskParts
from verification.settings import VerificationSettings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("desk-keys")
    ensure_local_keys(directory)
    return directory


@pytest.fixture
def uow() -> InMemoryUnitOfWork:
    return InMemoryUnitOfWork()


@pytest.fixture
def parts(keys: Path, uow: InMemoryUnitOfWork) -> DeskParts:
    verifier = TokenVerifier(
        issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE, roles_claim="roles", jwks_file=keys / "jwks.json"
    )
    settings = VerificationSettings.model_construct(document_link_seconds=60, claim_minutes=30)
    return DeskParts(uow, InMemoryVault(), verifier, settings, lambda: NOW, b"k" * 32)


def bearer(keys: Path, *roles: str, subject: str = "alice") -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(keys, subject, list(roles))}"}


async def ask(parts: DeskParts, method: str, path: str, **options: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=desk_site(parts))
    async with httpx.AsyncClient(transport=transport, base_url="https://desk.example") as http:
        return await http.request(method, path, **options)


def a_case(uow: InMemoryUnitOfWork, state: str, claimed_by: str | None = None) -> uuid.UUID:
    case = Case(
        uuid.uuid4(),
        uuid.uuid4(),
        "123456789012",
        "LRE-7K3M9Q",
        "default",
        state,
        "upload",
        "email",
        "camille.martin@exemple.example",
        "fr",
        opened_at=NOW,
        claimed_by=claimed_by,
    )
    uow.cases.by_id[case.case_id] = case
    return case.case_id


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response's problem details, checked for the members every problem has."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    body: dict[str, Any] = response.json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["instance"] == response.request.url.raw_path.decode().split("?")[0]
    return body


async def test_a_missing_token_is_a_401_problem_with_a_bearer_challenge(parts: DeskParts) -> None:
    response = await ask(parts, "GET", "/desk/api/cases")

    body = problem(response, 401)
    assert (body["title"], body["detail"]) == ("Unauthorized", "a bearer token is required")
    assert response.headers["www-authenticate"] == 'Bearer realm="lre-desk"'


async def test_a_token_that_does_not_verify_is_a_401_problem_saying_invalid_token(
    parts: DeskParts, keys: Path
) -> None:
    token = issue_token(keys, "alice", ["agent"], audience="another-app")

    response = await ask(parts, "GET", "/desk/api/cases", headers={"authorization": f"Bearer {token}"})

    assert problem(response, 401)["detail"].startswith("invalid token: ")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_token_without_the_role_is_a_403_problem_naming_the_role(
    parts: DeskParts, keys: Path
) -> None:
    response = await ask(
        parts,
        "POST",
        f"/desk/api/triage/{uuid.uuid4()}/assign",
        json={"case_id": str(uuid.uuid4())},
        headers=bearer(keys, "agent"),
    )

    body = problem(response, 403)
    assert (body["title"], body["detail"]) == ("Forbidden", "the supervisor role is required")


async def test_an_unknown_case_is_a_404_problem(parts: DeskParts, keys: Path) -> None:
    response = await ask(parts, "GET", f"/desk/api/cases/{uuid.uuid4()}", headers=bearer(keys, "agent"))

    assert problem(response, 404)["detail"] == "no such case"


async def test_a_path_naming_no_case_id_is_a_404_problem(parts: DeskParts, keys: Path) -> None:
    response = await ask(parts, "GET", "/desk/api/cases/not-a-case/audit", headers=bearer(keys, "agent"))

    assert "UUID" in problem(response, 404)["detail"]


async def test_deciding_a_case_nobody_claimed_is_a_409_problem(
    parts: DeskParts, keys: Path, uow: InMemoryUnitOfWork
) -> None:
    case_id = a_case(uow, "pending")

    response = await ask(
        parts,
        "POST",
        f"/desk/api/cases/{case_id}/decision",
        json={"outcome": "rejected", "reason": "flou"},
        headers=bearer(keys, "agent"),
    )

    body = problem(response, 409)
    assert (body["title"], body["detail"]) == ("Conflict", "the case is pending: claim it first")
    assert uow.published == []


async def test_deciding_a_decided_case_again_is_a_409_problem(
    parts: DeskParts, keys: Path, uow: InMemoryUnitOfWork
) -> None:
    case_id = a_case(uow, "rejected", claimed_by="alice")

    response = await ask(
        parts,
        "POST",
        f"/desk/api/cases/{case_id}/decision",
        json={"outcome": "approved"},
        headers=bearer(keys, "agent"),
    )

    assert problem(response, 409)["detail"] == "the case is rejected: claim it first"


async def test_a_control_character_is_a_422_problem_naming_the_field_without_repeating_it(
    parts: DeskParts, keys: Path, uow: InMemoryUnitOfWork
) -> None:
    case_id = a_case(uow, "in_review", claimed_by="alice")
    item = {
        "kind": "identity",
        "document_type": "passport",
        "number": "19AB\x1b[2J",
        "expiry_date": "2031-01-01",
    }

    response = await ask(
        parts,
        "PUT",
        f"/desk/api/cases/{case_id}/checklist",
        json={"items": [item]},
        headers=bearer(keys, "agent"),
    )

    body = problem(response, 422)
    assert list(body["errors"]) == ["items.0.number"]
    assert "items.0.number" in body["detail"]
    assert "\x1b" not in response.text and "[2J" not in response.text
    assert uow.cases.by_id[case_id].checklist == []


async def test_every_invalid_field_is_named(parts: DeskParts, keys: Path, uow: InMemoryUnitOfWork) -> None:
    case_id = a_case(uow, "in_review", claimed_by="alice")

    response = await ask(
        parts,
        "POST",
        f"/desk/api/cases/{case_id}/callbacks",
        json={"number": "0142000000", "called_at": "hier", "outcome": "", "extra": 1},
        headers=bearer(keys, "agent"),
    )

    assert set(problem(response, 422)["errors"]) == {"number", "called_at", "outcome", "extra"}


async def test_a_query_parameter_out_of_its_values_is_a_422_problem_naming_it(
    parts: DeskParts, keys: Path
) -> None:
    response = await ask(parts, "GET", "/desk/api/cases?state=lost", headers=bearer(keys, "agent"))

    assert list(problem(response, 422)["errors"]) == ["state"]


async def test_a_body_that_is_not_json_is_a_422_problem_on_the_body(
    parts: DeskParts, keys: Path, uow: InMemoryUnitOfWork
) -> None:
    case_id = a_case(uow, "in_review", claimed_by="alice")

    response = await ask(
        parts,
        "POST",
        f"/desk/api/cases/{case_id}/decision",
        content=b'{"outcome": ',
        headers={**bearer(keys, "agent"), "content-type": "application/json"},
    )

    assert list(problem(response, 422)["errors"]) == ["body"]


async def test_a_body_over_the_limit_is_a_413_problem(parts: DeskParts, keys: Path) -> None:
    response = await ask(
        parts,
        "POST",
        f"/desk/api/cases/{uuid.uuid4()}/decision",
        content=b'{"reason": "' + b"x" * 100_000 + b'"}',
        headers={**bearer(keys, "agent"), "content-type": "application/json"},
    )

    assert problem(response, 413)["detail"] == "the request body is over 65536 bytes"


async def test_an_answer_keeps_the_desks_headers(parts: DeskParts, keys: Path) -> None:
    response = await ask(parts, "GET", "/desk/api/cases", headers=bearer(keys, "agent"))

    assert response.status_code == 200 and response.json()["cases"] == []
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_published_openapi_document_is_the_apps_own(parts: DeskParts) -> None:
    document = desk_api(parts).openapi()

    published = (DOCS / "openapi" / "verification-desk.json").read_text()
    assert published == docs.render_json(document), "run `make docs`"
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["x-required-role"] in ("agent", "supervisor"), (method, path)
            # A bearer token, or else the console's session cookie.
            assert operation["security"] == [{"bearer": []}, {"session": []}]
            for status in ("401", "403", "422"):
                refusal = operation["responses"][status]["content"]
                assert refusal == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_every_schema_the_openapi_document_names_is_among_its_components(parts: DeskParts) -> None:
    # The problem details name the unmet rules' schema: it joins the components, not `$defs`.
    document = desk_api(parts).openapi()
    text = json.dumps(document)
    names = set(document["components"]["schemas"])

    assert "$defs" not in text
    assert {"Problem", "UnmetRule", "UnmetCode"} <= names
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text):
        assert ref in names, ref


async def test_the_api_serves_the_same_document_to_agents(parts: DeskParts, keys: Path) -> None:
    response = await ask(parts, "GET", "/desk/api/openapi.json", headers=bearer(keys, "agent"))

    assert response.status_code == 200
    assert response.json() == json.loads(docs.render_json(desk_api(parts).openapi()))
