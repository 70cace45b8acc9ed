"""What every route group of the desk API shares: the path convertor for item numbers, the
headers of every answer, the rule for agents' notes, and the parts of the desk the routes
reach."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from pydantic import AfterValidator
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lre_shared.clock import Clock
from lre_shared.headers import ResponseHeaders
from lre_shared.text import text_fault
from verification.adapters.agents import TokenVerifier
from verification.service_layer.desk_sessions import ConsoleSignIn
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


class BodyLimit:
    """Refuses a request body over `limit` bytes (413, as problem details by the API's
    handlers) while it is read, whatever its `Content-Length` says."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise HTTPException(413, f"the request body is over {self.limit} bytes")
            return message

        await self.app(scope, receive_within_limit, send)


class NoStore(ResponseHeaders):
    """Every answer of the API, refusals included, with `NO_STORE`: identity data is never
    kept by a browser or a proxy, never sniffed as another type, never sent on as referrer."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, [(name.encode(), value.encode()) for name, value in NO_STORE.items()])


@dataclass
class DeskParts:
    """What the desk's routes reach: their own units of work (each request one transaction,
    with the outbox), the document vault, the token verifier, the desk's settings and the
    console's sign-in and sessions (None: the console's client is not configured)."""

    transactions: UnitsOfWork
    vault: DocumentVault
    verifier: TokenVerifier
    settings: VerificationSettings
    clock: Clock
    link_key: bytes
    sessions: ConsoleSignIn | None = None
