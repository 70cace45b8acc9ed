"""Traces across the bus: the W3C trace context a message carries is continued by its
consumer, kept in the outbox row through the relay, carried by request/reply, written in
the logs, and exported to a JSON-lines file."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_settings import SettingsConfigDict

from lre_shared import tracing
from lre_shared.bus import Bus, Transaction
from lre_shared.contracts import (
    DownloadLinkIssued,
    EvidenceRecorded,
    IssueDownloadLink,
    IssueZipLink,
    LetterAccepted,
    ZipLinkIssued,
    now_utc,
)
from lre_shared.logs import JsonFormatter
from lre_shared.runtime import ServiceRuntime, build_app
from lre_shared.settings import ServiceSettings
from lre_shared.topology import Service, queue_name
from tests.support import infra
from tests.support.bus import eventually

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class TracingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LRE_TRACING_TEST_", frozen=True)


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    tracing.configure_tracing("signer")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    entries: list[dict[str, Any]] = []
    formatter = JsonFormatter("signer")

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            entries.append(json.loads(formatter.format(record)))

    logger = logging.getLogger("tracing-test")
    handler = Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield entries
    logger.removeHandler(handler)


@pytest.fixture
def pool(messaging_pool: asyncpg.Pool) -> asyncpg.Pool:
    return messaging_pool


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    """A virtual host of this module's own: a test below needs one where no service's queues
    were ever declared, whichever tests ran before."""
    with infra.rabbitmq_url() as url:
        yield url


@pytest.fixture
async def bus(amqp_url: str, database_url: str, pool: asyncpg.Pool) -> AsyncIterator[Bus]:
    settings = TracingSettings(
        amqp_url=amqp_url, database_url=database_url, http_port=0, outbox_poll_seconds=0.2
    )
    bus = Bus(settings, Service.signer, consumer=f"test-trace-{uuid.uuid4().hex[:8]}")
    log = logging.getLogger("tracing-test")

    async def record_evidence(event: LetterAccepted, tx: Transaction) -> None:
        await tx.publish(
            EvidenceRecorded(
                correlation_id=event.correlation_id,
                evidence_id=uuid.uuid4(),
                event="ConsignmentAcceptance",
                event_time=now_utc(),
                record_sha256="0" * 64,
                previous_sha256=None,
            )
        )

    async def note_evidence(event: EvidenceRecorded, tx: Transaction) -> None:
        log.info("evidence seen")

    async def issue_link(query: IssueDownloadLink, tx: Transaction) -> DownloadLinkIssued:
        return DownloadLinkIssued(
            correlation_id=query.correlation_id,
            document_id=query.document_id,
            url="https://s3.example/doc",
            expires_at=now_utc() + timedelta(minutes=5),
        )

    bus.subscribe(LetterAccepted, record_evidence)
    bus.subscribe(EvidenceRecorded, note_evidence)
    bus.subscribe(IssueDownloadLink, issue_link, idempotent=False)
    await bus.start(pool)
    yield bus
    await bus.stop()


def of_trace(exporter: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [
        s
        for s in exporter.get_finished_spans()
        if s.context is not None and format(s.context.trace_id, "032x") == trace_id
    ]


def consumer_span(exporter: InMemorySpanExporter, trace_id: str, queue: str) -> ReadableSpan | None:
    return next(
        (s for s in of_trace(exporter, trace_id) if s.name == f"{queue} process"),
        None,
    )


async def test_the_trace_a_message_carries_goes_on_through_the_outbox_to_the_next_consumer(
    bus: Bus, pool: asyncpg.Pool, spans: InMemorySpanExporter, logged: list[dict[str, Any]]
) -> None:
    letter_id = uuid.uuid4()
    accepted = LetterAccepted(correlation_id=letter_id, item_number="123456789012", accepted_at=now_utc())
    evidence_queue = queue_name(bus.consumer, EvidenceRecorded)
    await bus.publisher.publish(accepted, headers={"traceparent": TRACEPARENT})

    await eventually(lambda: consumer_span(spans, TRACE_ID, evidence_queue) is not None)

    first = consumer_span(spans, TRACE_ID, queue_name(bus.consumer, LetterAccepted))
    second = consumer_span(spans, TRACE_ID, evidence_queue)
    assert first is not None
    assert second is not None
    assert first.kind == trace.SpanKind.CONSUMER
    assert first.attributes is not None
    assert first.attributes[tracing.LETTER_ID] == str(letter_id)
    assert first.attributes[tracing.MESSAGE_ID] == str(accepted.message_id)
    assert first.attributes[tracing.MESSAGE_TYPE] == "LetterAccepted"
    assert first.attributes[tracing.OUTCOME] == "handled"
    # The evidence was published through the outbox inside the first span: the relay's
    # publication is the child of that PRODUCER span, itself the child of the first consumer.
    producer = next(
        s for s in of_trace(spans, TRACE_ID) if s.name == f"{EvidenceRecorded.routing_key} publish"
    )
    assert producer.parent is not None
    assert first.context is not None
    assert producer.parent.span_id == first.context.span_id
    assert second.parent is not None
    assert producer.context is not None
    assert second.parent.span_id == producer.context.span_id

    row = await pool.fetchrow(
        "SELECT headers FROM outbox WHERE correlation_id = $1 AND routing_key = $2",
        letter_id,
        EvidenceRecorded.routing_key,
    )
    assert row is not None
    assert TRACE_ID in json.loads(row["headers"])["traceparent"]

    (line,) = [entry for entry in logged if entry["message"] == "evidence seen"]
    assert line["trace_id"] == TRACE_ID
    assert second.context is not None
    assert line["span_id"] == format(second.context.span_id, "016x")
    assert line["letter_id"] == str(letter_id)


async def test_a_request_reply_is_a_client_span_whose_answer_is_handled_inside_it(
    bus: Bus, spans: InMemorySpanExporter
) -> None:
    query = IssueDownloadLink(correlation_id=uuid.uuid4(), document_id=uuid.uuid4())
    with tracing.tracer().start_as_current_span("page") as page:
        reply = await bus.ask(query, DownloadLinkIssued, timeout=10)
    assert reply.url == "https://s3.example/doc"
    trace_id = format(page.get_span_context().trace_id, "032x")

    await eventually(
        lambda: consumer_span(spans, trace_id, queue_name(bus.consumer, IssueDownloadLink)) is not None
    )
    ask = next(s for s in of_trace(spans, trace_id) if s.name == f"{IssueDownloadLink.routing_key} ask")
    handled = consumer_span(spans, trace_id, queue_name(bus.consumer, IssueDownloadLink))
    assert ask.kind == trace.SpanKind.CLIENT
    assert ask.parent is not None
    assert ask.parent.span_id == page.get_span_context().span_id
    assert handled is not None
    assert handled.parent is not None
    assert ask.context is not None
    assert handled.parent.span_id == ask.context.span_id


async def test_an_http_request_is_a_server_span_that_continues_the_callers_trace(
    amqp_url: str, database_url: str, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    settings = TracingSettings(amqp_url=amqp_url, database_url=database_url, http_port=0)
    bus = Bus(settings, Service.signer, consumer=f"test-trace-{uuid.uuid4().hex[:8]}")
    seen: list[str | None] = []

    async def site(scope: Any, receive: Any, send: Any) -> None:
        seen.append(format(trace.get_current_span().get_span_context().trace_id, "032x"))
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    try:
        app = build_app(ServiceRuntime(bus=bus, migrations=Path("unused")), site=site)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
            await client.get("/courrier", headers={"traceparent": TRACEPARENT})
            await client.get("/health/live", headers={"traceparent": TRACEPARENT})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

    assert seen == [TRACE_ID]
    servers = [s for s in of_trace(spans, TRACE_ID) if s.kind == trace.SpanKind.SERVER]
    assert [(s.name, dict(s.attributes or {})) for s in servers] == [
        ("GET", {"http.request.method": "GET", "url.path": "/courrier", "http.response.status_code": 404})
    ]


def test_the_file_exporter_writes_one_json_line_per_finished_span(tmp_path: Path) -> None:
    provider = TracerProvider()
    path = tmp_path / "traces" / "spans.jsonl"
    provider.add_span_processor(SimpleSpanProcessor(tracing.JsonLinesSpanExporter(path)))
    parent = tracing.extract({"traceparent": TRACEPARENT})
    tracer = provider.get_tracer("t")
    with (
        tracer.start_as_current_span("one", context=parent),
        tracer.start_as_current_span("two", attributes={tracing.LETTER_ID: "L"}),
    ):
        pass

    lines = [json.loads(line) for line in path.read_text().splitlines()]

    assert [line["name"] for line in lines] == ["two", "one"]
    assert {line["trace_id"] for line in lines} == {TRACE_ID}
    assert lines[0]["parent_span_id"] == lines[1]["span_id"]
    assert lines[1]["parent_span_id"] == "00f067aa0ba902b7"
    assert lines[0]["attributes"] == {tracing.LETTER_ID: "L"}


async def test_a_query_no_service_takes_yet_is_answered_as_a_timeout_at_once(bus: Bus) -> None:
    # The archive's commands exchange exists, but nothing in this virtual host consumes zip links.
    query = IssueZipLink(correlation_id=uuid.uuid4())
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError, match="issue_zip_link"):
        await bus.ask(query, ZipLinkIssued, timeout=20)
    assert asyncio.get_running_loop().time() - started < 10  # returned by the broker, not waited out
