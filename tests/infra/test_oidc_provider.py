"""The local OpenID provider (deploy/local/oidc.py) is a real one: discovery, a sign-in form,
authorization code with PKCE, ID tokens signed with its published keys, each user's claims
and eIDAS level (`acr`), and wrong passwords refused."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import jwt
import pytest

from deploy.local import oidc
from tests.support.oidc import follow_sign_in, pkce
from tests.support.pki import free_port

pytestmark = pytest.mark.integration

REDIRECT = "http://127.0.0.1:9/callback"  # never followed: the code is read from the redirect


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("oidc")
    port = free_port()
    clients = [
        oidc.public_client("console", [REDIRECT]),
        oidc.confidential_client("site", "site-secret", [REDIRECT]),
    ]
    process = oidc.start_oidc(port, clients, state, state / "oidc.log")
    try:
        yield oidc.issuer(port)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _sign_in(client: httpx.Client, issuer: str, params: dict[str, str], username: str, password: str) -> str:
    """Follow the provider's pages as a browser would; return the code it redirects back with."""
    location = follow_sign_in(
        client, f"{issuer}/auth?{urlencode(params)}", issuer, username, password, REDIRECT
    )
    query = parse_qs(urlsplit(location).query)
    assert "code" in query, query
    return query["code"][0]


def _discovery(issuer: str) -> dict[str, object]:
    document: dict[str, object] = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    return document


def test_a_console_signs_an_agent_in_with_pkce_and_gets_the_roles_claim(provider: str) -> None:
    discovery = _discovery(provider)
    assert discovery["issuer"] == provider
    assert "S256" in discovery["code_challenge_methods_supported"]  # type: ignore[operator]
    verifier, challenge = pkce()
    nonce = secrets.token_urlsafe(16)
    with httpx.Client() as browser:
        code = _sign_in(
            browser,
            provider,
            {
                "client_id": "console",
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "scope": "openid profile roles",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "nonce": nonce,
                "state": "s1",
            },
            "supervisor",
            "supervisor-test",
        )
    tokens = httpx.post(
        str(discovery["token_endpoint"]),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "console",
            "code_verifier": verifier,
        },
    ).json()
    keys = jwt.PyJWKClient(str(discovery["jwks_uri"]))
    id_token = tokens["id_token"]
    claims = jwt.decode(
        id_token,
        keys.get_signing_key_from_jwt(id_token).key,
        algorithms=["RS256"],
        audience="console",
        issuer=provider,
    )
    assert claims["sub"] == "staff-supervisor-1"
    assert claims["nonce"] == nonce
    assert claims[oidc.ROLES_CLAIM] == ["agent", "supervisor"]
    # The access token is a JWT for the desk's API, with the roles, checked with the same keys.
    access_token = tokens["access_token"]
    access = jwt.decode(
        access_token,
        keys.get_signing_key_from_jwt(access_token).key,
        algorithms=["RS256"],
        audience=oidc.API_AUDIENCE,
        issuer=provider,
    )
    assert access["sub"] == "staff-supervisor-1"
    assert access[oidc.ROLES_CLAIM] == ["agent", "supervisor"]


def test_a_public_client_without_pkce_is_refused(provider: str) -> None:
    with httpx.Client() as browser:
        response = browser.get(
            f"{provider}/auth",
            params={
                "client_id": "console",
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "scope": "openid",
            },
        )
    location = response.headers.get("location", "")
    assert "error=invalid_request" in location and "requires+PKCE" in location, location


def test_a_recipient_signs_in_at_their_eidas_level_with_their_identity_claims(provider: str) -> None:
    discovery = _discovery(provider)
    results = {}
    for username in ("camille", "camille-low"):
        with httpx.Client() as browser:
            code = _sign_in(
                browser,
                provider,
                {
                    "client_id": "site",
                    "response_type": "code",
                    "redirect_uri": REDIRECT,
                    "scope": "openid profile",
                    "acr_values": "eidas2",
                    "state": "s2",
                },
                username,
                "camille-test",
            )
        tokens = httpx.post(
            str(discovery["token_endpoint"]),
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
            auth=("site", "site-secret"),
        ).json()
        results[username] = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert results["camille"]["acr"] == "eidas2"
    assert results["camille"]["family_name"] == "MARTIN"
    assert results["camille"]["birthdate"] == "1990-04-12"
    assert results["camille-low"]["acr"] == "eidas1"  # what the relying party must refuse


def test_a_wrong_password_is_refused_on_the_form(provider: str) -> None:
    _, challenge = pkce()
    with httpx.Client() as browser:
        page = browser.get(
            f"{provider}/auth",
            params={
                "client_id": "console",
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "scope": "openid",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            follow_redirects=True,
        )
        action = re.search(r'action="([^"]+)"', page.text)
        assert action is not None
        refused = browser.post(
            urljoin(provider, action.group(1)), data={"username": "agent", "password": "nope"}
        )
    assert refused.status_code == 401
    assert "wrong password" in refused.text
