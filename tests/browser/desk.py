"""The verification desk's side of the one-time-code path, through its JSON API, with an
agent's token from the platform's OpenID provider (or, without one, signed by the platform's
local key, as `lre-desk-token` signs them)."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from deploy.local.oidc import DESK_CALLBACK, DESK_CLIENT_ID
from tests.support.oidc import follow_sign_in, pkce
from tests.support.running import RunningPlatform
from verification.entrypoints.desk_token import issue_token

# What an agent notes from a valid identity document (the default policy asks for one).
PASSPORT = {
    "kind": "identity",
    "document_type": "passport",
    "number": "19AB12345",
    "expiry_date": "2036-01-01",
}


def provider_agent_token(platform: RunningPlatform) -> str:
    """An access token for the desk API as the console gets it from the platform's OpenID
    provider: the test agent signs in (authorization code, PKCE, the console's secret)."""
    oidc = platform.config.oidc
    assert oidc is not None
    redirect = platform.config.desk_url + DESK_CALLBACK
    verifier, challenge = pkce()
    query = {
        "client_id": DESK_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": "openid profile roles",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
    }
    with httpx.Client(timeout=30) as browser:
        start = f"{oidc.issuer}/auth?{urlencode(query)}"
        back = follow_sign_in(browser, start, oidc.issuer, "agent", "agent-test", redirect)
        tokens = browser.post(
            f"{oidc.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": parse_qs(urlsplit(back).query)["code"][0],
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
            auth=(DESK_CLIENT_ID, oidc.desk_client_secret),
        )
    assert tokens.status_code == 200, tokens.text
    token: str = tokens.json()["access_token"]
    return token


def desk_client(platform: RunningPlatform) -> httpx.AsyncClient:
    """The desk API as an agent: signed in at the platform's OpenID provider when it has one
    (the desk then takes only its tokens), else with a token of the local key."""
    if platform.config.oidc is not None:
        token = provider_agent_token(platform)
    else:
        keys = Path(tempfile.gettempdir()) / f"lre-desk-{platform.config.database_prefix}"
        token = issue_token(keys, "agent-browser-tests", ["agent"], minutes=10)
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{platform.config.ports['verification']}/desk/api",
        headers={"authorization": f"Bearer {token}"},
        timeout=30.0,
    )


async def approve_next_case(platform: RunningPlatform, item_number: str) -> dict[str, Any]:
    """Claim the next waiting case (it must be `item_number`'s), note the passport, approve."""
    async with desk_client(platform) as desk:
        claimed = await desk.post("/cases/claim")
        assert claimed.status_code == 200, claimed.text
        case: dict[str, Any] = claimed.json()["case"]
        assert case is not None, "no case waits at the desk"
        assert case["item_number"] == item_number, case
        path = f"/cases/{case['case_id']}"
        documents = await desk.get(path + "/documents")
        assert documents.status_code == 200, documents.text
        assert documents.json()["documents"], "the uploaded identity document did not reach the desk"
        saved = await desk.put(path + "/checklist", json={"items": [PASSPORT]})
        assert saved.status_code == 200, saved.text
        decided = await desk.post(path + "/decision", json={"outcome": "approved", "reason": None})
        assert decided.status_code == 200, decided.text
        return case
