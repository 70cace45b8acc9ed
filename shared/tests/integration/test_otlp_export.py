"""With the standard OTEL_EXPORTER_OTLP_ENDPOINT set, a service process sends its spans to
that OpenTelemetry collector by OTLP over HTTP (protobuf), flushed when it stops.

A process of its own: the tracer provider is installed once per process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

SERVICE_PROCESS = f"""
from lre_shared import tracing
tracing.configure_tracing("archive")
parent = tracing.extract({{"traceparent": "00-{TRACE_ID}-00f067aa0ba902b7-01"}})
with tracing.tracer().start_as_current_span("letter.deposited.v1 publish", context=parent):
    pass
tracing.shutdown_tracing()
"""


class Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_spans_go_to_the_configured_collector_by_otlp_over_http(collector: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector

    subprocess.run([sys.executable, "-c", SERVICE_PROCESS], env=env, check=True, timeout=60)

    (path, body) = Collector.received[-1]
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert attributes["service.name"] == "lre-archive"
    (span,) = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "letter.deposited.v1 publish"
    assert span.trace_id.hex() == TRACE_ID
