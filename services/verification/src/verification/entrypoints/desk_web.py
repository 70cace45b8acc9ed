"""What every route group of the desk API shares: answers, refusals, the path convertor for
item numbers, the rule for agents' notes, and the parts of the desk the routes reach."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel
from pydantic_core import to_json
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from lre_shared.clock import Clock
from lre_shared.text import text_fault
from verification.adapters.agents import TokenVerifier
from verification.service_layer.desk import Agent
from verification.service_layer.ports import DocumentVault, UnitsOfWork
from verification.settings import VerificationSettings


class ItemNumber(Convertor[str]):
    """An item number in a path: its 12 digits, nothing else."""

    regex = "[0-9]{12}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("item_number", ItemNumber())

API = "/desk/api"
DOCUMENTS = "/desk/documents/"
NO_STORE = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


_LINE_BREAKS = str.maketrans("\t\n\r", "   ")


def _note(value: str) -> str:
    # Notes may run over several lines (a textarea); otherwise the platform's rule for text.
    if fault := text_fault(value.translate(_LINE_BREAKS)):
        raise ValueError(fault)
    return value


Note = Annotated[str, AfterValidator(_note)]


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(content), status, {**NO_STORE, **(headers or {})}, media_type="application/json")


def shown(value: object, limit: int = 60) -> str:
    """Printable ASCII, bounded: what of a client's own input an answer may repeat."""
    return "".join(c if " " <= c <= "~" else "?" for c in str(value)[:limit])


def inline_disposition(filename: str) -> str:
    """`Content-Disposition` for a document's name in any script (RFC 6266): the name in
    UTF-8 (RFC 5987 `filename*`), and an ASCII approximation for clients without it."""
    decomposed = unicodedata.normalize("NFKD", filename)
    fallback = "".join(
        c if " " <= c <= "~" and c not in '"\\' else "" if unicodedata.combining(c) else "_"
        for c in decomposed
    )
    encoded = quote(filename, safe="", errors="replace")
    return f"inline; filename=\"{fallback[:150]}\"; filename*=UTF-8''{encoded}"


def problem(
    status: int, reason: str, problems: list[str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    return json_response({"error": reason, "problems": problems or []}, status, headers)


Endpoint = Callable[[Request, Agent, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    role: str
    summary: str
    endpoint: Endpoint
    answer: type[BaseModel]
    body: type[BaseModel] | None = None


@dataclass
class DeskParts:
    """What the desk's routes reach: their own units of work (each request one transaction,
    with the outbox), the document vault, the token verifier and the desk's settings."""

    transactions: UnitsOfWork
    vault: DocumentVault
    verifier: TokenVerifier
    settings: VerificationSettings
    clock: Clock
    link_key: bytes
