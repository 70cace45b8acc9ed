"""Hostile and careless input thrown at the platform as `make run` starts it: generated
deposits on the bus, forms and headers at the pickup site, requests at the desk's API, mail
at the desk's SMTP port. After each run: no 5xx, no traceback in any log, every letter the
archive accepted or refused known to every service that must know it, and nothing in a
dead-letter queue without a reason that names its cause."""

from __future__ import annotations

import asyncio
import json
import smtplib
import tempfile
import uuid
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import httpx
import pytest
from hypothesis import strategies as st

from lre_shared.contracts import SubmitLetter
from tests.hostile import checks
from tests.hostile.corpus import corpus, hostile_deposits, hostile_text, valid_deposit
from tests.support.bus import eventually, publish_raw
from tests.support.running import RunningPlatform
from tests.support.site import csrf
from verification.entrypoints.desk_token import issue_token

pytestmark = pytest.mark.e2e

DEPOSITS = 60


async def _publish_deposit(platform: RunningPlatform, body: bytes, message_id: str | None = None) -> None:
    await publish_raw(
        platform.amqp_url,
        SubmitLetter.exchange,
        SubmitLetter.routing_key,
        body,
        message_id or str(uuid.uuid4()),
    )


async def _after_the_run(platform: RunningPlatform) -> None:
    dead = await checks.drained(platform.amqp_url)
    await eventually(lambda: _none(checks.inconsistencies(platform)), timeout=120)
    assert await checks.dead_letters_without_a_cause(platform.amqp_url, dead) == []
    assert checks.tracebacks(platform) == []


async def _none(found: object) -> bool:
    assert asyncio.iscoroutine(found)
    return not await found


async def test_hostile_deposits_lose_nothing_accepted_and_dead_letter_only_with_their_cause(
    platform_running: RunningPlatform,
) -> None:
    bodies = corpus(hostile_deposits, DEPOSITS)
    valid = [valid_deposit(f"valid {i}") for i in range(3)]
    first, second = valid_deposit("reused id, first"), valid_deposit("reused id, second")
    reused = second["message_id"] = first["message_id"]

    await _publish_deposit(platform_running, json.dumps(first).encode(), reused)
    for body in bodies:
        await _publish_deposit(platform_running, body)
    for deposit in valid:
        await _publish_deposit(platform_running, json.dumps(deposit).encode())
    await _publish_deposit(platform_running, json.dumps(second).encode(), reused)

    await _after_the_run(platform_running)
    conn = await asyncpg.connect(platform_running.database_url("archive"))
    try:
        accepted = {r["letter_id"] for r in await conn.fetch("SELECT letter_id FROM letters")}
        refused = {r["letter_id"] for r in await conn.fetch("SELECT letter_id FROM rejections")}
    finally:
        await conn.close()
    assert {uuid.UUID(d["correlation_id"]) for d in (*valid, first)} <= accepted
    assert uuid.UUID(second["correlation_id"]) in refused  # told, not dropped as a duplicate


async def test_hostile_forms_and_headers_at_the_pickup_site_never_get_a_server_error(
    platform_running: RunningPlatform,
) -> None:
    deposit = valid_deposit("site")
    await _publish_deposit(platform_running, json.dumps(deposit).encode())
    item_number = await _item_number(platform_running, uuid.UUID(deposit["correlation_id"]))
    texts = corpus(hostile_text, 15)
    # Header values as raw bytes: whatever HTTP lets through (obs-text included), up to what
    # would end or fold the header line.
    forged = corpus(
        st.dictionaries(
            st.sampled_from(
                ["x-forwarded-for", "cookie", "accept-language", "referer", "origin", "user-agent"]
            ),
            hostile_text.map(
                lambda t: (
                    bytes(b for b in t.encode("utf-8", "surrogatepass") if b >= 0x20 and b != 0x7F).strip()
                    or b"-"
                )
            ),
            max_size=3,
        ),
        20,
    )
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=platform_running.config.pickup_url, timeout=30) as site:
        for headers in forged:
            statuses.append((await site.get("/", headers=headers)).status_code)
        for text in texts[:15]:  # under the address's limit of wrong numbers, so the run goes on
            page = await site.get("/")
            answer = await site.post("/", data={"csrf_token": csrf(page), "item_number": text})
            statuses.append(answer.status_code)
        page = await site.get("/")
        page = await site.post(
            "/", data={"csrf_token": csrf(page), "item_number": item_number}, follow_redirects=True
        )
        for text in texts[:8]:  # a few wrong identities: the item's limit counts them
            fields = {f: text for f in ("company", "last_name", "first_name", "address", "postcode", "city")}
            answer = await site.post("/identite", data={"csrf_token": csrf(page), **fields})
            statuses.append(answer.status_code)
        huge = await site.post("/", content=b"item_number=" + b"9" * 5_000_000)
        statuses.append(huge.status_code)
    assert all(status < 500 for status in statuses), sorted(set(statuses))
    await _after_the_run(platform_running)


async def test_hostile_requests_at_the_desk_api_get_a_clear_client_error(
    platform_running: RunningPlatform,
) -> None:
    keys = Path(tempfile.gettempdir()) / f"lre-desk-{platform_running.config.database_prefix}"
    token = issue_token(keys, "supervisor-hostile", ["agent", "supervisor"], minutes=10)
    bodies = corpus(
        st.recursive(
            st.none() | st.booleans() | st.integers() | hostile_text,
            lambda children: (
                st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3)
            ),
            max_leaves=10,
        )
        | st.fixed_dictionaries(
            {"outcome": st.sampled_from(["approved", "rejected", "more_documents"]), "reason": hostile_text}
        )
        | st.fixed_dictionaries({"items": st.lists(st.dictionaries(hostile_text, hostile_text), max_size=2)})
        | st.fixed_dictionaries({"note": hostile_text, "outcome": hostile_text}),
        30,
    )
    ids = [str(uuid.uuid4()), "not-a-case", "%00", "..%2F..%2Fetc"]
    statuses: list[int] = []
    base = f"http://127.0.0.1:{platform_running.config.ports['verification']}/desk/api"
    async with httpx.AsyncClient(
        base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=30
    ) as desk:
        for i, body in enumerate(bodies):
            case = ids[i % len(ids)]
            for method, path in (
                ("PUT", f"/cases/{case}/checklist"),
                ("POST", f"/cases/{case}/decision"),
                ("POST", f"/cases/{case}/callbacks"),
                ("POST", f"/triage/{case}/assign"),
                ("POST", "/letters/123456789012/lock/lift"),
            ):
                answer = await desk.request(method, path, json=body)
                statuses.append(answer.status_code)
        for raw in (b"\x00\xff", b"{" * 100_000, b'{"reason": "\\u0000"}'):
            answer = await desk.post(
                f"/cases/{ids[0]}/decision", content=raw, headers={"content-type": "application/json"}
            )
            statuses.append(answer.status_code)
    assert all(status < 500 for status in statuses), sorted(set(statuses))
    assert checks.tracebacks(platform_running) == []


def _mail(subject: str, body: str | bytes, **headers: str) -> bytes:
    raw = f"From: destinataire@exemple.example\r\nTo: identite@lre.localhost\r\nSubject: {subject}\r\n"
    raw += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        raw.encode("utf-8", "surrogateescape")
        + b"\r\n"
        + (body if isinstance(body, bytes) else body.encode())
    )


def _hostile_mails() -> list[bytes]:
    attachment = EmailMessage()
    attachment["From"] = "destinataire@exemple.example"
    attachment["To"] = "identite@lre.localhost"
    attachment["Subject"] = "LRE-23456Z"
    attachment.set_content("piece jointe")
    attachment.add_attachment(
        b"MZ\x90\x00", maintype="application", subtype="octet-stream", filename="паспорт\r\n.exe"
    )
    nested = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" * 300
    mails = [
        _mail("LRE-23456Z", b"texte avec un NUL \x00 au milieu"),
        _mail("LRE-23456Z", b"caf\xe9", **{"Content-Type": 'text/plain; charset="x-klingon"'}),
        _mail("LRE-23456Z", " ".join(f"LRE-{n:06d}" for n in range(40_000))),
        _mail("x" * 100_000, "sujet trop long"),
        _mail("LRE-23456Z", nested, **{"MIME-Version": "1.0", "Content-Type": "multipart/mixed; boundary=b"}),
        _mail("LRE-23456Z", "=?utf-8?b?invalid", **{"Content-Transfer-Encoding": "base64"}),
        bytes(attachment),
    ]
    mails += [
        _mail(subject, body)
        for subject, body in zip(corpus(hostile_text, 10), corpus(hostile_text, 10), strict=True)
    ]
    return mails


async def test_hostile_mail_at_the_desk_is_answered_for_good_with_a_plain_reason(
    platform_running: RunningPlatform,
) -> None:
    port = platform_running.config.desk_smtp_port or platform_running.config.ports["verification"] + 1

    def send_all() -> list[tuple[int, bytes]]:
        replies = []
        for raw in _hostile_mails():
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
                try:
                    smtp.sendmail("destinataire@exemple.example", ["identite@lre.localhost"], raw)
                    replies.append((250, b"OK"))
                except smtplib.SMTPDataError as refused:
                    replies.append((refused.smtp_code, refused.smtp_error))
        return replies

    replies = await asyncio.to_thread(send_all)
    for code, text in replies:
        # Never "try again later" for a mail that will never be better (4xx), never a crash
        # (the SMTP server's "500 Error: (SomeException) ..."): accepted, or refused for good.
        assert code == 250 or 500 <= code < 600, (code, text)
        assert b"Error: (" not in text, text
        assert all(32 <= b < 127 for b in text), text
    assert checks.tracebacks(platform_running) == []


async def _item_number(platform: RunningPlatform, letter_id: uuid.UUID) -> str:
    conn = await asyncpg.connect(platform.database_url("pickup"))
    try:
        for _ in range(600):
            if item := await conn.fetchval("SELECT item_number FROM letters WHERE letter_id = $1", letter_id):
                return str(item)
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError("the letter never reached the pickup site")
