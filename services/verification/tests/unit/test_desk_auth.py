"""Nothing of the desk answers without a valid token: every API route refuses a missing,
expired, wrongly signed or wrongly addressed token (401) and a token without the route's
role (403), before it touches any data."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.routing import iter_route_contexts

from verification.adapters.agents import SUPERVISOR, TokenVerifier, Unauthenticated
from verification.entrypoints.desk import desk_api, desk_site
from verification.entrypoints.desk_token import (
    LOCAL_AUDIENCE,
    LOCAL_ISSUER,
    _kid,
    ensure_local_keys,
    issue_token,
)
from verification.entrypoints.desk_web import DeskParts
from verification.settings import VerificationSettings


def no_pool() -> Any:
    raise AssertionError("the desk reached its database without a valid token")


class NoVault:
    async def put(self, key: str, content: bytes) -> None:
        raise AssertionError("unreachable")

    async def get(self, key: str) -> bytes:
        raise AssertionError("unreachable")

    async def delete(self, key: str) -> None:
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("desk-keys")
    ensure_local_keys(directory)
    return directory


@pytest.fixture(scope="module")
def verifier(keys: Path) -> TokenVerifier:
    return TokenVerifier(
        issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE, roles_claim="roles", jwks_file=keys / "jwks.json"
    )


@pytest.fixture(scope="module")
def api(verifier: TokenVerifier) -> DeskParts:
    settings = VerificationSettings.model_construct(document_link_seconds=60)
    return DeskParts(no_pool, NoVault(), verifier, settings, lambda: datetime.now(UTC), b"k" * 32)


OPERATIONS = [
    (method, route.path, route.openapi_extra["x-required-role"])
    for route in iter_route_contexts(desk_api(DeskParts.__new__(DeskParts)).routes)
    for method in sorted(route.methods or ())
]


def concrete(path: str) -> str:
    return (
        path.replace("{case_id:uuid}", str(uuid.uuid4()))
        .replace("{triage_id:uuid}", str(uuid.uuid4()))
        .replace("{item_number:item_number}", "123456789012")
    )


async def call(api: DeskParts, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    app = desk_site(api)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://desk.example"
    ) as http:
        return await http.request(method, concrete(path), headers=headers, json={})


def foreign_token(keys: Path, claims: dict[str, Any]) -> str:
    """Signed by another key that claims to be ours (same key id)."""
    other = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, other, algorithm="ES256", headers={"kid": _kid(keys)})


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": "mallory",
        "roles": ["supervisor"],
        "iat": now,
        "exp": now + 600,
    } | overrides


def test_every_route_is_covered() -> None:
    assert len(OPERATIONS) == 14
    assert {role for _, _, role in OPERATIONS} == {"agent", "supervisor"}


@pytest.mark.parametrize(("method", "path", "role"), OPERATIONS)
async def test_a_missing_token_is_refused(api: DeskParts, method: str, path: str, role: str) -> None:
    response = await call(api, method, path, {})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "role"), OPERATIONS)
async def test_an_expired_token_is_refused(
    api: DeskParts, keys: Path, method: str, path: str, role: str
) -> None:
    token = issue_token(keys, "alice", ["supervisor"], minutes=10, now=time.time() - 3600)

    response = await call(api, method, path, {"authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "role"), OPERATIONS)
async def test_a_token_signed_by_another_key_is_refused(
    api: DeskParts, keys: Path, method: str, path: str, role: str
) -> None:
    response = await call(api, method, path, {"authorization": f"Bearer {foreign_token(keys, claims())}"})

    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path", "role"), OPERATIONS)
async def test_a_token_for_another_audience_or_issuer_is_refused(
    api: DeskParts, keys: Path, method: str, path: str, role: str
) -> None:
    wrong_audience = issue_token(keys, "alice", ["supervisor"], audience="another-app")
    wrong_issuer = issue_token(keys, "alice", ["supervisor"], issuer="https://idp.elsewhere.example")

    for token in (wrong_audience, wrong_issuer):
        response = await call(api, method, path, {"authorization": f"Bearer {token}"})
        assert response.status_code == 401


@pytest.mark.parametrize(("method", "path", "role"), OPERATIONS)
async def test_a_token_without_the_role_is_refused(
    api: DeskParts, keys: Path, method: str, path: str, role: str
) -> None:
    # A valid token whose roles fall short: none for an agent's route, agent for a supervisor's.
    token = issue_token(keys, "alice", [] if role == "agent" else ["agent"])

    response = await call(api, method, path, {"authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert response.json()["detail"] == f"the {role} role is required"


def test_an_unsigned_token_or_one_naming_another_algorithm_is_refused(
    keys: Path, verifier: TokenVerifier
) -> None:
    public_jwk = json.loads((keys / "jwks.json").read_text())["keys"][0]
    unsigned = jwt.encode(claims(), None, algorithm="none", headers={"kid": public_jwk["kid"]})
    with pytest.raises(Unauthenticated, match="alg"):
        verifier.verify(unsigned)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthenticated):
        verifier.verify(jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": public_jwk["kid"]}))
    # The classic confusion: HS256 keyed with the public key's text (built by hand: PyJWT
    # itself refuses to sign so).
    with pytest.raises(Unauthenticated):
        verifier.verify(hs256(claims(), (keys / "jwks.json").read_bytes(), public_jwk["kid"]))


def hs256(payload: dict[str, Any], secret: bytes, kid: str) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = (
        part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        + "."
        + part(json.dumps(payload).encode())
    )
    return signing + "." + part(hmac.new(secret, signing.encode(), hashlib.sha256).digest())


def test_a_supervisor_token_passes_as_agent(keys: Path, verifier: TokenVerifier) -> None:
    claims_ = verifier.verify(issue_token(keys, "bob", [SUPERVISOR]))

    assert verifier.roles(claims_) == {SUPERVISOR}
    assert claims_["sub"] == "bob"


def test_the_local_token_command_prints_a_token_the_desk_takes(
    keys: Path, verifier: TokenVerifier, capsys: pytest.CaptureFixture[str]
) -> None:
    from verification.entrypoints.desk_token import main

    assert main(["--dir", str(keys), "--subject", "zoe", "--role", "agent", "--role", "supervisor"]) == 0

    claims_ = verifier.verify(capsys.readouterr().out.strip())
    assert (claims_["sub"], sorted(verifier.roles(claims_))) == ("zoe", ["agent", "supervisor"])
    assert (keys / "signing-key.pem").stat().st_mode & 0o777 == 0o600


async def test_the_console_page_holds_no_data_and_a_strict_policy(api: DeskParts) -> None:
    page = await call(api, "GET", "/desk/", {})
    script = await call(api, "GET", "/desk/console.js", {})

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert '<script src="/desk/console.js"' in page.text
    assert script.status_code == 200 and "Authorization" not in script.text  # the token is never logged
    assert "innerHTML" not in script.text  # text goes in as text


async def test_a_document_link_that_was_not_signed_by_the_desk_shows_nothing(api: DeskParts) -> None:
    response = await call(api, "GET", "/desk/documents/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", {})

    assert response.status_code == 403
