"""JSON logs that carry the letter id and the message id of the message being handled,
and the trace and span ids of the OpenTelemetry span they were written in.

No secret of a link reaches the log: the archive's signed download links (`?expires=…&token=…`)
grant the document to whoever holds them until they expire, and logs are read by more people,
and kept longer, than the links live. Whatever writes a URL (the HTTP client, uvicorn's access
log, an exception), its secret query values are replaced here, as each line is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

letter_id_var: ContextVar[str | None] = ContextVar("letter_id", default=None)
message_id_var: ContextVar[str | None] = ContextVar("message_id", default=None)

_RESERVED = set(vars(logging.makeLogRecord({})))

# Query parameters whose value is a credential: the archive's link token, and the signatures
# and credentials of presigned storage URLs.
SECRET_PARAMETERS = ("token", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token")
_SECRET_VALUE = re.compile(
    r"(?P<name>[?&;](?:" + "|".join(map(re.escape, SECRET_PARAMETERS)) + r")=)[^&;#\s\"'\\<>]+",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with the value of every secret query parameter replaced."""
    return _SECRET_VALUE.sub(rf"\g<name>{REDACTED}", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (letter_id := letter_id_var.get()) is not None:
            entry["letter_id"] = letter_id
        if (message_id := message_id_var.get()) is not None:
            entry["message_id"] = message_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # FastStream logs every message at INFO; ours already says what matters.
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # fontTools logs dozens of INFO lines each time fpdf2 subsets a font, i.e. for every PDF
    # rendered (proofs, receipts, notices): noise that buries the lines naming a letter.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
