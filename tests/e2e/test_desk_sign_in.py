"""Support staff sign in to the desk console with the organisation's OpenID provider, as
`make run` configures it: the verification service as a process and the local provider
(`deploy/local/oidc.py`), driven over HTTP as a browser would. An agent and a supervisor get
a session (an HttpOnly cookie) with their roles; the API takes the cookie, and the CSRF token
on every unsafe call; someone without a desk role gets no session; sign-out ends the session
at the desk and sends the browser to the provider's end-session endpoint; an ended session
opens nothing."""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from deploy.local.oidc import DESK_CALLBACK
from tests.support.oidc import follow_sign_in
from tests.support.running import RunningPlatform
from verification.entrypoints.desk_auth import SESSION_COOKIE

pytestmark = pytest.mark.e2e

CLAIM = "/desk/api/cases/claim"  # an agent's POST
TRIAGE = "/desk/api/triage"  # an agent's GET
LETTER_AUDIT = "/desk/api/letters/000000000000/audit"  # a supervisor's GET


@pytest.fixture(scope="module")
def desk(services: RunningPlatform) -> RunningPlatform:
    # The desk alone needs no other service: its provider, PostgreSQL, RabbitMQ and S3.
    services.with_oidc()
    services.start("verification")
    return services


def desk_url(desk: RunningPlatform) -> str:
    return desk.config.desk_url


def issuer(desk: RunningPlatform) -> str:
    assert desk.config.oidc is not None
    return desk.config.oidc.issuer


def browser(desk: RunningPlatform) -> httpx.Client:
    return httpx.Client(base_url=desk_url(desk), timeout=60.0)


def sign_in(desk: RunningPlatform, client: httpx.Client, username: str, password: str) -> httpx.Response:
    """Start at the console's sign-in, sign in at the provider; the desk's callback answer."""
    callback = follow_sign_in(
        client,
        f"{desk_url(desk)}/desk/auth/login?next=/desk/",
        issuer(desk),
        username,
        password,
        desk_url(desk) + DESK_CALLBACK,
    )
    return client.get(callback)


def signed_in(desk: RunningPlatform, client: httpx.Client, username: str, password: str) -> dict[str, object]:
    back = sign_in(desk, client, username, password)
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/desk/"
    cookie = back.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/desk/" in cookie
    session = client.get("/desk/auth/session")
    assert session.status_code == 200, session.text
    body: dict[str, object] = session.json()
    return body


def test_an_agent_signs_in_and_calls_the_api_with_the_cookie_and_the_csrf_token(
    desk: RunningPlatform,
) -> None:
    with browser(desk) as client:
        session = signed_in(desk, client, "agent", "agent-test")
        csrf = str(session["csrf_token"])

        listed = client.get(TRIAGE)
        without_csrf = client.post(CLAIM)
        wrong_csrf = client.post(CLAIM, headers={"X-CSRF-Token": csrf[::-1]})
        claimed = client.post(CLAIM, headers={"X-CSRF-Token": csrf})
        supervisors_only = client.get(LETTER_AUDIT)

    assert (session["subject"], session["name"], session["roles"]) == (
        "staff-agent-1",
        "Alex Agent",
        ["agent"],
    )
    expires_at = datetime.fromisoformat(str(session["expires_at"]))
    assert datetime.now(UTC) < expires_at <= datetime.now(UTC) + timedelta(hours=8)
    assert listed.status_code == 200, listed.text
    for refused in (without_csrf, wrong_csrf):
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert "X-CSRF-Token" in refused.json()["detail"]
    assert claimed.status_code == 200, claimed.text
    assert claimed.json() == {"case": None}  # no case waits on this desk
    assert supervisors_only.status_code == 403
    assert supervisors_only.json()["detail"] == "the supervisor role is required"


def test_a_supervisor_signs_in_with_both_roles(desk: RunningPlatform) -> None:
    with browser(desk) as client:
        session = signed_in(desk, client, "supervisor", "supervisor-test")
        audit = client.get(LETTER_AUDIT)

    assert session["subject"] == "staff-supervisor-1"
    assert session["roles"] == ["agent", "supervisor"]
    assert audit.status_code == 200, audit.text  # a supervisor's route
    assert audit.json() == {"events": []}


def test_someone_without_a_desk_role_gets_no_session(desk: RunningPlatform) -> None:
    with browser(desk) as client:
        refused = sign_in(desk, client, "camille", "camille-test")
        session = client.get("/desk/auth/session")

    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "neither the agent nor the supervisor role" in refused.text
    assert SESSION_COOKIE not in client.cookies
    assert session.status_code == 401


def test_a_callback_the_browser_did_not_start_is_refused(desk: RunningPlatform) -> None:
    with browser(desk) as client:
        forged = client.get(DESK_CALLBACK, params={"state": "made-up", "code": "stolen"})

    assert forged.status_code == 400
    assert "not started in this browser" in forged.text


def test_sign_out_ends_the_session_and_signs_out_at_the_provider(desk: RunningPlatform) -> None:
    with browser(desk) as client:
        session = signed_in(desk, client, "agent", "agent-test")
        cookie = client.cookies[SESSION_COOKIE]

        forged = client.post("/desk/auth/logout", data={"csrf_token": "guessed"})
        still = client.get(TRIAGE)
        out = client.post("/desk/auth/logout", data={"csrf_token": str(session["csrf_token"])})
        after = client.get("/desk/auth/session")
        forward = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', out.text)
        assert forward is not None, out.text
        end_session = html.unescape(forward.group(1))
        at_provider = client.get(end_session)

    with browser(desk) as replay:
        replay.cookies.set(SESSION_COOKIE, cookie)
        replayed = replay.get(TRIAGE)

    assert forged.status_code == 403 and still.status_code == 200
    assert out.status_code == 200
    assert after.status_code == 401
    assert replayed.status_code == 401
    assert "sign in again" in replayed.json()["detail"]
    query = parse_qs(urlsplit(end_session).query)
    assert end_session.startswith(issuer(desk))
    assert query["post_logout_redirect_uri"] == [desk_url(desk) + "/desk/"]
    assert query["id_token_hint"][0].count(".") == 2
    # The provider takes the hint and the address (a bad one would be a 400 error page).
    assert at_provider.status_code == 200, at_provider.text


# The session's own dates moved back, as if the time had passed.
AGE = {
    column: f"UPDATE desk_sessions SET {column} = {column} - $2::interval WHERE session_hash = $1"  # noqa: S608
    for column in ("last_seen_at", "ends_at")
}


async def _age(desk: RunningPlatform, cookie: str, column: str, by: timedelta) -> None:
    conn = await asyncpg.connect(desk.database_url("verification"))
    try:
        changed = await conn.execute(
            AGE[column],
            hashlib.sha256(cookie.encode()).digest(),
            by,
        )
        assert changed == "UPDATE 1"
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("column", "by"),
    [("last_seen_at", timedelta(minutes=31)), ("ends_at", timedelta(hours=8, seconds=1))],
    ids=["idle", "past-its-absolute-end"],
)
def test_an_ended_session_is_refused(desk: RunningPlatform, column: str, by: timedelta) -> None:
    with browser(desk) as client:
        signed_in(desk, client, "agent", "agent-test")
        cookie = client.cookies[SESSION_COOKIE]
        # As if the time had passed: the session's own dates, in the desk's database.
        asyncio.run(_age(desk, cookie, column, by))

        api = client.get(TRIAGE)
        session = client.get("/desk/auth/session")

    assert api.status_code == 401 and "sign in again" in api.json()["detail"]
    assert session.status_code == 401


def test_the_database_keeps_the_session_ids_digest_not_the_id(desk: RunningPlatform) -> None:
    with browser(desk) as client:
        signed_in(desk, client, "agent", "agent-test")
        cookie = client.cookies[SESSION_COOKIE]

    async def stored() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(desk.database_url("verification"))
        try:
            return list(await conn.fetch("SELECT * FROM desk_sessions"))
        finally:
            await conn.close()

    rows = asyncio.run(stored())
    assert hashlib.sha256(cookie.encode()).digest() in {row["session_hash"] for row in rows}
    assert not any(cookie in str(value) for row in rows for value in row.values())
