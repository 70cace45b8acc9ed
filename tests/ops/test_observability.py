"""What an operator sees of one letter going through the five services, as separate
processes on the real parts: one trace, from the sender's deposit to the recipient's last
page, exported by every process; JSON log lines carrying that trace id; and each
service's Prometheus counters moving.

The trace starts with the `traceparent` the sender system puts on its SubmitLetter. The
recipient's browser sends its own requests: here the test's HTTP client carries the same
`traceparent`, as an instrumented front end (or the ingress) would, so the pages continue
the letter's trace, through the acknowledgement of receipt (AR) signed with a personal
certificate (test PKI) to the download, whose link the pickup site asks of the archive.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from deploy.local.platform import SERVICES
from lre_shared.bus import broker_user
from lre_shared.contracts import (
    CheckSignedReceipt,
    ContentHandedOver,
    Document,
    IssueDownloadLink,
    IssueReceiptForm,
    LetterAccepted,
    LetterDeposited,
    NoticeSent,
    ReceiptSigned,
    SendNotice,
    SubmitLetter,
)
from lre_shared.topology import queue_name
from tests.browser.recipient_tools import sign_with_certificate
from tests.support.bus import eventually
from tests.support.fixtures import SmtpServer
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform
from tests.support.site import csrf, plain_text, retried

pytestmark = pytest.mark.e2e

METRICS_TOKEN = secrets.token_urlsafe(24)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("traces")


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform, traces: Path, test_pki: TestPki) -> RunningPlatform:
    env = {f"{service.upper()}_TRACES_FILE": str(traces / f"{service}.jsonl") for service in SERVICES}
    # The signer trusts the test PKI's root for signed receipts.
    env["SIGNER_RECEIPT_TRUST_ROOT_FILES"] = json.dumps([str(test_pki.root_file)])
    # At DEBUG the bus logs a line per message handled.
    env |= {f"{service.upper()}_LOG_LEVEL": "DEBUG" for service in SERVICES}
    # The pickup site is public: its /metrics answers only the scraper with the token.
    env["PICKUP_METRICS_TOKEN"] = METRICS_TOKEN
    services.start_all(env)
    return services


def spans(traces: Path) -> list[dict[str, Any]]:
    found = []
    for path in traces.glob("*.jsonl"):
        found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return found


def log_lines(platform: RunningPlatform) -> list[str]:
    return [
        line
        for service in SERVICES
        for line in platform.log_path(service).read_text(errors="replace").splitlines()
    ]


def log_entries(platform: RunningPlatform) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_lines(platform) if line.startswith("{")]


async def scrape(platform: RunningPlatform, service: str) -> Samples:
    headers = {"authorization": f"Bearer {METRICS_TOKEN}"} if service == "pickup" else {}
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"http://127.0.0.1:{platform.config.ports[service]}/metrics", headers=headers
        )
    assert response.status_code == 200, service
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )


async def deposit(amqp_url: str, command: SubmitLetter, traceparent: str) -> None:
    """Publish as a sender system whose own trace the deposit continues."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(command.exchange, ensure=False)
        await exchange.publish(
            aio_pika.Message(
                command.to_json(),
                message_id=str(command.message_id),
                correlation_id=str(command.correlation_id),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                headers={"traceparent": traceparent},
                user_id=broker_user(amqp_url),  # the platform's own user, trusted to act for any sender
            ),
            routing_key=command.routing_key,
            mandatory=True,
        )


async def test_one_trace_follows_a_letter_through_the_five_services_and_their_counters_move(
    platform_running: RunningPlatform, smtp: SmtpServer, traces: Path, test_pki: TestPki
) -> None:
    before = {service: await scrape(platform_running, service) for service in SERVICES}
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    letter_id = uuid.uuid4()
    recipient = DEMO_RECIPIENT.model_copy(update={"email": f"ops-{uuid.uuid4().hex[:8]}@exemple.example"})
    command = SubmitLetter(
        correlation_id=letter_id,
        sender=DEMO_SENDER,
        recipient=recipient,
        main_document=Document(filename="mise-en-demeure.pdf", content=demo_pdf("Trace " + trace_id)),
    )

    await deposit(platform_running.amqp_url, command, traceparent)

    notice = await smtp.store.wait_for_async(lambda m: m["To"] == recipient.email, timeout=120)
    item = re.search(r"Numéro de pli : (\d{12})", plain_text(notice))
    assert item
    # The recipient's pages, continuing the letter's trace.
    headers = {"traceparent": traceparent}
    async with httpx.AsyncClient(
        base_url=platform_running.config.pickup_url, follow_redirects=True, headers=headers
    ) as site:
        page = await site.get("/")
        page = await site.post("/", data={"csrf_token": csrf(page), "item_number": item.group(1)})
        identity = recipient.model_dump(
            include={"company", "last_name", "first_name", "address", "postcode", "city"}
        )
        page = await site.post("/identite", data={"csrf_token": csrf(page), **identity})
        assert page.url.path == "/decision"
        page = await site.post("/decision", data={"csrf_token": csrf(page), "decision": "accepter"})
        assert page.url.path == "/signature"
        page = await site.get("/signature/certificat")
        receipt = await retried(site, "/signature/certificat/avis.pdf")
        signed = await sign_with_certificate(test_pki, "recipient", receipt.content)
        page = await site.post(
            "/signature/certificat",
            data={"csrf_token": csrf(page)},
            files={"receipt": ("ar_signe.pdf", signed, "application/pdf")},
        )
        assert page.url.path == "/courrier", page.text
        link = re.search(r'href="(/courrier/documents/[^"]+)"', page.text)
        assert link
        download = await retried(site, link.group(1))
        assert download.status_code == 200

    def journey_spans() -> list[dict[str, Any]]:
        return [s for s in spans(traces) if s["trace_id"] == trace_id]

    def consumed(consumer: str, message: type[Any]) -> bool:
        name = f"{queue_name(consumer, message)} process"
        return any(s["name"] == name and s["kind"] == "CONSUMER" for s in journey_spans())

    expected = [
        ("archive", SubmitLetter),
        ("pickup", LetterDeposited),
        ("verification", LetterDeposited),
        ("signer", LetterDeposited),
        ("notifier", SendNotice),
        ("signer", NoticeSent),
        ("signer", LetterAccepted),
        ("signer", IssueReceiptForm),
        ("signer", CheckSignedReceipt),
        ("signer", ReceiptSigned),
        ("archive", IssueDownloadLink),
        # The archive records the download as it serves it, in the trace the site passed on.
        ("signer", ContentHandedOver),
    ]
    await eventually(lambda: all(consumed(c, m) for c, m in expected), timeout=90)

    journey = journey_spans()
    assert {s["service"] for s in journey} == {f"lre-{service}" for service in SERVICES}
    # Every message about the letter was handled in its trace, whichever process handled it.
    about_letter = [
        s
        for s in spans(traces)
        if s["kind"] == "CONSUMER" and s["attributes"].get("lre.letter_id") == str(letter_id)
    ]
    assert about_letter
    assert {s["trace_id"] for s in about_letter} == {trace_id}
    assert all(s["attributes"]["lre.outcome"] == "handled" for s in about_letter)
    # The site's pages are server spans of the trace; the AR form, its check and the download
    # link were asked of the signer and the archive.
    pages = {
        (s["attributes"]["http.request.method"], s["attributes"]["url.path"])
        for s in journey
        if s["kind"] == "SERVER"
    }
    assert {
        ("POST", "/"),
        ("POST", "/identite"),
        ("POST", "/decision"),
        ("POST", "/signature/certificat"),
    } <= pages
    asked = {s["name"] for s in journey if s["kind"] == "CLIENT"}
    assert {
        f"{m.routing_key} ask" for m in (IssueReceiptForm, CheckSignedReceipt, IssueDownloadLink)
    } <= asked

    # Parents are spans of the same trace (or the sender's own span): one tree, no orphans.
    # A parent ends after its children, so its export may come a moment later: wait for it.
    def one_tree() -> bool:
        spans_now = journey_spans()
        known = {s["span_id"] for s in spans_now} | {traceparent.split("-")[2]}
        return all(s["parent_span_id"] in known for s in spans_now)

    await eventually(one_tree, timeout=30)

    # The lines each service logged while handling the letter carry its trace id.
    handled_lines = [
        e
        for e in log_entries(platform_running)
        if e.get("letter_id") == str(letter_id) and e["message"] == "handled"
    ]
    assert {e["service"] for e in handled_lines} == set(SERVICES)
    assert {e.get("trace_id") for e in handled_lines} == {trace_id}
    # A clean journey logs no error anywhere (a second, empty reply to an ask once did).
    assert [line for line in log_lines(platform_running) if "ERROR" in line or "Traceback" in line] == []

    after = {service: await scrape(platform_running, service) for service in SERVICES}
    for service in SERVICES:
        handled = total(after[service], "lre_messages_total", outcome="handled") - total(
            before[service], "lre_messages_total", outcome="handled"
        )
        latency = total(after[service], "lre_handler_seconds_count") - total(
            before[service], "lre_handler_seconds_count"
        )
        assert handled >= 1, service
        assert latency >= 1, service
        assert total(after[service], "lre_dead_letter_messages") == 0, service
    for service, routing_key in (
        ("archive", LetterDeposited.routing_key),
        ("notifier", NoticeSent.routing_key),
        ("pickup", LetterAccepted.routing_key),
    ):
        published = total(after[service], "lre_events_published_total", routing_key=routing_key) - total(
            before[service], "lre_events_published_total", routing_key=routing_key
        )
        assert published >= 1, (service, routing_key)
    notices = total(after["notifier"], "lre_notices_total", channel="email", outcome="sent") - total(
        before["notifier"], "lre_notices_total", channel="email", outcome="sent"
    )
    assert notices >= 1


async def test_the_public_sites_metrics_refuse_a_scraper_without_the_token(
    platform_running: RunningPlatform,
) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{platform_running.config.ports['pickup']}/metrics")
    assert response.status_code == 401
