"""The console's sign-in and sessions, on a fake identity provider and an in-memory store:
a sign-in is bound to the browser that started it and used once, only desk roles open a
session, sessions end when idle, at their absolute end and at sign-out, the cookie's id is
never stored, and every unsafe API call with the cookie wants the session's CSRF token."""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from verification.adapters.agents import TokenVerifier, Unauthenticated
from verification.domain.desk_sessions import PendingSignIn, StaffSession, digest, safe_next
from verification.entrypoints.desk import desk_site
from verification.entrypoints.desk_auth import SESSION_COOKIE
from verification.entrypoints.desk_session import SIGN_IN_COOKIE
from verification.entrypoints.desk_token import LOCAL_AUDIENCE, LOCAL_ISSUER, ensure_local_keys, issue_token
from verification.entrypoints.desk_web import DeskParts
from verification.service_layer.desk_sessions import ConsoleSignIn, SignInRefused, Tokens
from verification.settings import VerificationSettings

IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=8)
END_SESSION = "https://idp.example/session/end"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class MemoryStore:
    sign_ins: dict[bytes, PendingSignIn] = field(default_factory=dict)
    sessions: dict[bytes, StaffSession] = field(default_factory=dict)

    async def add_sign_in(self, state_hash: bytes, sign_in: PendingSignIn) -> None:
        self.sign_ins[state_hash] = sign_in

    async def take_sign_in(self, state_hash: bytes) -> PendingSignIn | None:
        return self.sign_ins.pop(state_hash, None)

    async def add(self, session_hash: bytes, session: StaffSession) -> None:
        self.sessions[session_hash] = session

    async def get(self, session_hash: bytes) -> StaffSession | None:
        return self.sessions.get(session_hash)

    async def touch(self, session_hash: bytes, now: datetime) -> None:
        session = self.sessions[session_hash]
        self.sessions[session_hash] = replace(session, last_seen_at=now)

    async def remove(self, session_hash: bytes) -> None:
        self.sessions.pop(session_hash, None)

    async def remove_ended(self, now: datetime, idle: timedelta) -> int:
        ended = [key for key, session in self.sessions.items() if not session.live(now, idle)]
        for key in ended:
            del self.sessions[key]
        return len(ended)


@dataclass
class FakeProvider:
    """Hands out, for any code, an ID token `id-<subject>` and an access token
    `access-<subject>`; remembers the authorization requests."""

    subject: str = "staff-agent-1"
    requests: list[dict[str, str]] = field(default_factory=list)
    verifiers: dict[str, str] = field(default_factory=dict)

    async def authorization_url(self, state: str, nonce: str, code_challenge: str) -> str:
        self.requests.append({"state": state, "nonce": nonce, "code_challenge": code_challenge})
        return f"https://idp.example/auth?state={state}"

    async def exchange(self, code: str, code_verifier: str) -> Tokens:
        self.verifiers[code] = code_verifier
        return Tokens(f"id-{self.subject}", f"access-{self.subject}")

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        assert nonce == self.requests[-1]["nonce"]
        return {"sub": id_token.removeprefix("id-"), "name": "Alex Agent"}

    async def end_session_url(self, id_token_hint: str) -> str | None:
        return f"{END_SESSION}?id_token_hint={id_token_hint}"


ROLES: dict[str, list[str]] = {
    "staff-agent-1": ["agent", "reader"],
    "staff-supervisor-1": ["agent", "supervisor"],
    "fc-camille-martin": [],
}


def check_access(token: str) -> tuple[dict[str, Any], set[str]]:
    subject = token.removeprefix("access-")
    if subject not in ROLES:
        raise Unauthenticated("signed by an unknown key")
    return {"sub": subject}, set(ROLES[subject])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def sign_in(store: MemoryStore, provider: FakeProvider, clock: Clock) -> ConsoleSignIn:
    return ConsoleSignIn(store, provider, check_access, clock, lifetime=LIFETIME, idle=IDLE)


async def signed_in(sign_in: ConsoleSignIn, next_path: str | None = "/desk/") -> tuple[str, StaffSession]:
    started = await sign_in.start(next_path)
    done = await sign_in.finish(state=started.state, code="c1", error=None, browser_state=started.state)
    return done.session_id, done.session


async def test_a_sign_in_asks_pkce_s256_and_keeps_only_the_states_digest(
    sign_in: ConsoleSignIn, store: MemoryStore, provider: FakeProvider
) -> None:
    started = await sign_in.start("/desk/")

    ((key, pending),) = store.sign_ins.items()
    assert key == digest(started.state) and started.state.encode() not in key
    challenge = base64.urlsafe_b64encode(hashlib.sha256(pending.code_verifier.encode()).digest())
    assert provider.requests[-1]["code_challenge"] == challenge.rstrip(b"=").decode()
    await sign_in.finish(state=started.state, code="c1", error=None, browser_state=started.state)
    assert provider.verifiers["c1"] == pending.code_verifier


async def test_a_callback_in_another_browser_or_without_its_cookie_is_refused(sign_in: ConsoleSignIn) -> None:
    started = await sign_in.start("/desk/")
    other = await sign_in.start("/desk/")

    for browser_state in (None, other.state):
        with pytest.raises(SignInRefused, match="not started in this browser") as refused:
            await sign_in.finish(state=started.state, code="c1", error=None, browser_state=browser_state)
        assert refused.value.status == 400


async def test_a_state_is_used_once_and_for_ten_minutes(sign_in: ConsoleSignIn, clock: Clock) -> None:
    started = await sign_in.start("/desk/")
    await sign_in.finish(state=started.state, code="c1", error=None, browser_state=started.state)
    with pytest.raises(SignInRefused, match="expired or was already used"):
        await sign_in.finish(state=started.state, code="c1", error=None, browser_state=started.state)

    late = await sign_in.start("/desk/")
    clock.now += timedelta(minutes=10)
    with pytest.raises(SignInRefused, match="expired"):
        await sign_in.finish(state=late.state, code="c2", error=None, browser_state=late.state)


async def test_an_error_from_the_provider_is_refused_with_its_code(sign_in: ConsoleSignIn) -> None:
    started = await sign_in.start("/desk/")

    with pytest.raises(SignInRefused, match="access_denied") as refused:
        await sign_in.finish(
            state=started.state, code=None, error="access_denied", browser_state=started.state
        )
    assert refused.value.status == 403


async def test_an_account_without_a_desk_role_opens_no_session(
    sign_in: ConsoleSignIn, provider: FakeProvider, store: MemoryStore
) -> None:
    provider.subject = "fc-camille-martin"

    with pytest.raises(SignInRefused, match="neither the agent nor the supervisor role") as refused:
        await signed_in(sign_in)
    assert refused.value.status == 403
    assert store.sessions == {}


async def test_an_access_token_the_api_would_refuse_opens_no_session(
    sign_in: ConsoleSignIn, provider: FakeProvider
) -> None:
    provider.subject = "someone-unknown"

    with pytest.raises(SignInRefused, match="no valid token for the desk API"):
        await signed_in(sign_in)


async def test_a_session_holds_the_desk_roles_only_and_is_stored_under_its_digest(
    sign_in: ConsoleSignIn, store: MemoryStore
) -> None:
    session_id, session = await signed_in(sign_in)

    assert session.roles == {"agent"}  # "reader" is not the desk's
    assert list(store.sessions) == [digest(session_id)]
    assert (session.subject, session.name) == ("staff-agent-1", "Alex Agent")
    assert len(session.csrf_token) >= 40 and session.csrf_token != session_id


async def test_an_idle_session_ends(sign_in: ConsoleSignIn, clock: Clock, store: MemoryStore) -> None:
    session_id, _ = await signed_in(sign_in)
    clock.now += IDLE - timedelta(seconds=1)
    assert await sign_in.current(session_id) is not None  # a request restarts the idle time
    clock.now += IDLE - timedelta(seconds=1)
    assert await sign_in.current(session_id) is not None

    clock.now += IDLE
    assert await sign_in.current(session_id) is None
    assert store.sessions == {}


async def test_the_consoles_own_requests_do_not_keep_a_session_alive(
    sign_in: ConsoleSignIn, clock: Clock, store: MemoryStore
) -> None:
    session_id, session = await signed_in(sign_in)
    # A console left open polls all along: it is answered while the session lives...
    while clock.now + timedelta(minutes=5) < session.signed_in_at + IDLE:
        clock.now += timedelta(minutes=5)
        polled = await sign_in.current(session_id, activity=False)
        assert polled is not None and sign_in.expires_at(polled) == session.signed_in_at + IDLE
    assert store.sessions[digest(session_id)].last_seen_at == session.signed_in_at

    # ...and refused once it idled out, which ends it for the agent's next request too.
    clock.now = session.signed_in_at + IDLE
    assert await sign_in.current(session_id, activity=False) is None
    assert store.sessions == {}
    assert await sign_in.current(session_id) is None


async def test_the_agents_request_amid_polls_restarts_the_idle_time(
    sign_in: ConsoleSignIn, clock: Clock
) -> None:
    session_id, _ = await signed_in(sign_in)
    clock.now += IDLE - timedelta(minutes=1)
    assert await sign_in.current(session_id) is not None  # the agent claims a case, say
    clock.now += IDLE - timedelta(minutes=1)
    assert await sign_in.current(session_id, activity=False) is not None

    clock.now += timedelta(minutes=1)
    assert await sign_in.current(session_id, activity=False) is None


async def test_a_busy_session_still_ends_at_its_absolute_end(sign_in: ConsoleSignIn, clock: Clock) -> None:
    session_id, session = await signed_in(sign_in)
    while clock.now + timedelta(minutes=20) < session.ends_at:
        clock.now += timedelta(minutes=20)
        current = await sign_in.current(session_id)
        assert current is not None
        assert sign_in.expires_at(current) == min(session.ends_at, clock.now + IDLE)

    clock.now = session.ends_at
    assert await sign_in.current(session_id) is None


async def test_sign_out_ends_the_session(sign_in: ConsoleSignIn) -> None:
    session_id, _ = await signed_in(sign_in)

    assert await sign_in.end(session_id) is not None
    assert await sign_in.current(session_id) is None
    assert await sign_in.current("never-issued") is None


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/desk/", "/desk/"),
        ("/desk/#case/1", "/desk/#case/1"),
        (None, "/desk/"),
        ("https://evil.example/desk/", "/desk/"),
        ("//evil.example/desk/", "/desk/"),
        ("/desk//evil.example", "/desk/"),
        ("/desk/\\evil", "/desk/"),
        ("/pickup/", "/desk/"),
        ("/desk/\nSet-Cookie: x", "/desk/"),
    ],
)
def test_after_sign_in_the_browser_goes_only_to_a_console_path(asked: str | None, kept: str) -> None:
    assert safe_next(asked) == kept


# The same, through the desk's HTTP routes.


def no_pool() -> Any:
    raise AssertionError("the desk reached its database")


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    ensure_local_keys(tmp_path)
    return tmp_path


@pytest.fixture
def parts(keys: Path, sign_in: ConsoleSignIn, clock: Clock) -> DeskParts:
    verifier = TokenVerifier(
        issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE, roles_claim="roles", jwks_file=keys / "jwks.json"
    )
    settings = VerificationSettings.model_construct(document_link_seconds=60, desk_cookie_secure=True)
    return DeskParts(no_pool, None, verifier, settings, clock, b"k" * 32, sign_in)  # type: ignore[arg-type]


def site(parts: DeskParts) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=desk_site(parts))
    return httpx.AsyncClient(transport=transport, base_url="https://desk.example")


DECISION = f"/desk/api/cases/{uuid.uuid4()}/decision"  # an agent's POST; {} is no valid body
ASSIGN = f"/desk/api/triage/{uuid.uuid4()}/assign"  # a supervisor's


async def browser_signed_in(http: httpx.AsyncClient, provider: FakeProvider, subject: str) -> dict[str, Any]:
    """Sign in as the console does; the session's JSON."""
    provider.subject = subject
    login = await http.get("/desk/auth/login", params={"next": "/desk/#queue"})
    assert login.status_code == 302
    assert re.search(r"HttpOnly", login.headers["set-cookie"], re.I)
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    back = await http.get("/desk/auth/callback", params={"state": state, "code": "c1"})
    assert back.status_code == 303 and back.headers["location"] == "/desk/#queue"
    cookie = back.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    assert all(flag in cookie.lower() for flag in ("httponly", "samesite=lax", "secure", "path=/desk/"))
    session = await http.get("/desk/auth/session")
    assert session.status_code == 200
    body: dict[str, Any] = session.json()
    return body


async def test_the_console_signs_in_and_reads_its_session(parts: DeskParts, provider: FakeProvider) -> None:
    async with site(parts) as http:
        body = await browser_signed_in(http, provider, "staff-supervisor-1")

    assert body["subject"] == "staff-supervisor-1" and body["name"] == "Alex Agent"
    assert body["roles"] == ["agent", "supervisor"]
    assert datetime.fromisoformat(body["expires_at"]) == parts.clock() + IDLE
    assert set(body) == {"subject", "name", "roles", "csrf_token", "expires_at"}


async def test_the_session_read_in_the_background_does_not_restart_the_idle_time(
    parts: DeskParts, provider: FakeProvider, clock: Clock
) -> None:
    signed_in_at = parts.clock()
    async with site(parts) as http:
        await browser_signed_in(http, provider, "staff-agent-1")
        clock.now += timedelta(minutes=20)
        background = await http.get("/desk/auth/session", headers={"X-Desk-Background": "1"})
        clock.now += timedelta(minutes=5)
        agent = await http.get("/desk/auth/session")  # the console's page, opened again
        agent_at = clock.now
        clock.now += IDLE
        ended = await http.get("/desk/auth/session", headers={"X-Desk-Background": "1"})

    assert background.status_code == 200
    assert datetime.fromisoformat(background.json()["expires_at"]) == signed_in_at + IDLE
    assert datetime.fromisoformat(agent.json()["expires_at"]) == agent_at + IDLE
    assert ended.status_code == 401


async def test_an_unsafe_call_with_the_cookie_wants_the_csrf_token(
    parts: DeskParts, provider: FakeProvider
) -> None:
    async with site(parts) as http:
        body = await browser_signed_in(http, provider, "staff-agent-1")

        without = await http.post(DECISION, json={})
        wrong = await http.post(DECISION, json={}, headers={"X-CSRF-Token": body["csrf_token"][:-1] + "x"})
        right = await http.post(DECISION, json={}, headers={"X-CSRF-Token": body["csrf_token"]})
        other_role = await http.post(ASSIGN, json={}, headers={"X-CSRF-Token": body["csrf_token"]})

    for refused in (without, wrong):
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert "X-CSRF-Token" in refused.json()["detail"]
    assert right.status_code == 422  # past the desk's door: only the body is wrong
    assert other_role.status_code == 403 and other_role.json()["detail"] == "the supervisor role is required"


async def test_a_bearer_token_needs_no_csrf_token(
    parts: DeskParts, provider: FakeProvider, keys: Path
) -> None:
    token = issue_token(keys, "robot", ["agent"], now=time.time())
    async with site(parts) as http:
        await browser_signed_in(http, provider, "staff-agent-1")
        response = await http.post(DECISION, json={}, headers={"authorization": f"Bearer {token}"})

    assert response.status_code == 422


async def test_an_ended_session_is_refused_with_401(
    parts: DeskParts, provider: FakeProvider, clock: Clock
) -> None:
    async with site(parts) as http:
        body = await browser_signed_in(http, provider, "staff-agent-1")
        clock.now += IDLE
        api = await http.post(DECISION, json={}, headers={"X-CSRF-Token": body["csrf_token"]})
        session = await http.get("/desk/auth/session")

    assert api.status_code == 401 and "sign in again" in api.json()["detail"]
    assert session.status_code == 401 and session.headers["content-type"] == "application/problem+json"


async def test_sign_out_wants_the_csrf_token_then_ends_the_session(
    parts: DeskParts, provider: FakeProvider, store: MemoryStore
) -> None:
    async with site(parts) as http:
        body = await browser_signed_in(http, provider, "staff-agent-1")

        forged = await http.post("/desk/auth/logout", data={"csrf_token": "guess"})
        assert forged.status_code == 403 and len(store.sessions) == 1

        out = await http.post("/desk/auth/logout", data={"csrf_token": body["csrf_token"]})
        assert out.status_code == 200
        assert f'url={END_SESSION}?id_token_hint=id-staff-agent-1"' in out.text
        assert store.sessions == {}
        assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
        http.cookies.clear()
        http.cookies.set(SESSION_COOKIE, "whatever", domain="desk.example")
        assert (await http.get("/desk/auth/session")).status_code == 401


async def test_a_refused_sign_in_is_a_page_that_says_why(parts: DeskParts, provider: FakeProvider) -> None:
    provider.subject = "fc-camille-martin"
    async with site(parts) as http:
        login = await http.get("/desk/auth/login")
        state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
        refused = await http.get("/desk/auth/callback", params={"state": state, "code": "c1"})
        forged = await http.get("/desk/auth/callback", params={"state": "made-up", "code": "c1"})

    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    assert "neither the agent nor the supervisor role" in refused.text
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "").split("=")[0]
    assert forged.status_code == 400 and "not started in this browser" in forged.text
    assert SIGN_IN_COOKIE in refused.headers["set-cookie"]  # the sign-in's cookie is cleared


async def test_without_the_consoles_client_sign_in_says_it_is_not_configured(parts: DeskParts) -> None:
    parts.sessions = None
    async with site(parts) as http:
        login = await http.get("/desk/auth/login")
        session = await http.get("/desk/auth/session")
        http.cookies.set(SESSION_COOKIE, "x", domain="desk.example")
        cookie_call = await http.get("/desk/api/cases")

    assert login.status_code == 503 and "not configured" in login.text
    assert session.status_code == 401
    assert cookie_call.status_code == 401


async def test_signing_in_again_replaces_the_browsers_session(
    parts: DeskParts, provider: FakeProvider, store: MemoryStore
) -> None:
    async with site(parts) as http:
        await browser_signed_in(http, provider, "staff-agent-1")
        first = http.cookies[SESSION_COOKIE]
        await browser_signed_in(http, provider, "staff-supervisor-1")

    assert http.cookies[SESSION_COOKIE] != first
    assert digest(first) not in store.sessions and len(store.sessions) == 1
