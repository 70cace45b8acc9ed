"""OpenTelemetry traces that follow a letter across the bus.

One trace follows a letter from the sender's deposit through every service it touches:

- publishing (directly, or through the outbox, whose row keeps the headers so the trace
  survives the relay) writes the W3C `traceparent` (and `tracestate`) into the message's
  AMQP headers, under a PRODUCER span named after the routing key;
- consuming extracts them and handles the message inside a CONSUMER span (queue, message
  type, message id, letter id, outcome);
- a request/reply `ask` is a CLIENT span, the answer's handler a child of it;
- every HTTP request a service app serves (the pickup site, the notifier's callbacks) is
  a SERVER span, continuing the caller's `traceparent` when it sends one.

Export: OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the standard OpenTelemetry variables, which
the exporter reads itself; a JSON-lines file per process when the service's `TRACES_FILE`
setting names one (tests, local runs); otherwise spans are made (trace ids in the logs)
and dropped.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

TRACER = "lre"
TRACEPARENT = "traceparent"
OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

# Attribute names: OpenTelemetry's messaging and HTTP conventions, and the letter's own.
MESSAGING_SYSTEM = "messaging.system"
DESTINATION = "messaging.destination.name"
OPERATION = "messaging.operation.type"
MESSAGE_ID = "messaging.message.id"
ROUTING_KEY = "messaging.rabbitmq.destination.routing_key"
MESSAGE_TYPE = "lre.message_type"
LETTER_ID = "lre.letter_id"
OUTCOME = "lre.outcome"

_provider_lock = threading.Lock()


def tracer() -> trace.Tracer:
    return _tracer()


@functools.cache
def _tracer() -> trace.Tracer:
    # Once per process: before `configure_tracing` this is OpenTelemetry's proxy, which hands
    # over to the provider once there is one; looking it up for each message costs more.
    return trace.get_tracer(TRACER)


def configure_tracing(service: str, traces_file: Path | None = None) -> None:
    """Install this process's tracer provider (once) and its exporters.

    Called from `build_app`; a second call (tests build several apps in one process) adds
    the file exporter to the provider already there rather than replacing it.
    """
    with _provider_lock:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
        else:
            provider = TracerProvider(resource=Resource.create({"service.name": f"lre-{service}"}))
            if any(os.environ.get(name) for name in OTLP_VARIABLES):
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(provider)
        if traces_file is not None:
            # One line per span as it ends: a test reads what several processes exported.
            provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(traces_file)))


def shutdown_tracing() -> None:
    """Flush what is still buffered (the OTLP batch) before the process exits."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=5000)


# ------------------------------------------------------------------ propagation


def inject(headers: Mapping[str, Any] | None = None, context: Context | None = None) -> dict[str, Any]:
    """`headers` plus the W3C trace context of `context` (default: the current one)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return {**(headers or {}), **carrier}


def extract(headers: Mapping[str, Any] | None) -> Context:
    """The trace context a message or request carries (an empty one if none)."""
    carrier = {str(k): v for k, v in (headers or {}).items() if isinstance(v, str)}
    return propagate.extract(carrier)


def publishing_headers(
    routing_key: str, message_id: str, letter_id: str, headers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The headers of a message being published: a PRODUCER span, child of the current one
    (or, outside any span, of the `traceparent` the caller put in `headers`), whose context
    goes into `headers` so the consumer's span continues it."""
    parent = None if trace.get_current_span().get_span_context().is_valid else extract(headers)
    with tracer().start_as_current_span(
        f"{routing_key} publish",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes=_sending(routing_key, "publish", message_id, letter_id),
    ):
        return inject(headers)


def start_consumer_span(
    queue: str, headers: Mapping[str, Any] | None, message_id: str | None, letter_id: str | None
) -> Span:
    """The span of one delivery, child of the publisher's; ended by the caller."""
    attributes: dict[str, str] = {MESSAGING_SYSTEM: "rabbitmq", OPERATION: "process", DESTINATION: queue}
    if message_id:
        attributes[MESSAGE_ID] = message_id
    if letter_id:
        attributes[LETTER_ID] = letter_id
    return tracer().start_span(
        f"{queue} process", context=extract(headers), kind=SpanKind.CONSUMER, attributes=attributes
    )


def failed(span: Span, exc: BaseException, outcome: str) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, str(exc)[:500]))
    span.set_attribute(OUTCOME, outcome)


@contextmanager
def client_span(routing_key: str, message_id: str, letter_id: str) -> Iterator[Span]:
    """A request/reply query waiting for its answer."""
    with tracer().start_as_current_span(
        f"{routing_key} ask",
        kind=SpanKind.CLIENT,
        attributes=_sending(routing_key, "send", message_id, letter_id),
    ) as span:
        yield span


def _sending(routing_key: str, operation: str, message_id: str, letter_id: str) -> dict[str, str]:
    """The attributes of a span that sends a message: which one, about which letter."""
    return {
        MESSAGING_SYSTEM: "rabbitmq",
        OPERATION: operation,
        ROUTING_KEY: routing_key,
        MESSAGE_ID: message_id,
        LETTER_ID: letter_id,
    }


# ------------------------------------------------------------------ file exporter


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span to a file as one JSON object per line."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(span), default=str) + "\n" for span in spans)
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def span_record(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get("service.name"),
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
    }
