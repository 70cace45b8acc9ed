"""The HTTP API of sender systems, each request with `Authorization: Bearer <API key>`
(keys issued by `lre-senders key issue`):

- `GET /senders/letters/<letter id>/proofs`: the letter's sealed proofs (kind, file name,
  SHA-256, issue time, size), as JSON;
- `GET /senders/letters/<letter id>/proofs/<kind>` (deposit, receipt, refusal, non_claim,
  envelope) and `GET /senders/letters/<letter id>/bundle` (the evidence bundle `lre verify`
  checks, a zip): 302 to a presigned download URL on the object store, valid a few minutes;
  the JSON body says the same (url, filename, sha256, size, expires_at);
- `GET /senders/letters/<letter id>/evidence`: the letter's evidence records, as JSON.

The archive answers from the signer (request/reply on the bus, as the key's sender: the
archive is a trusted publisher, so it must have authenticated the key itself). A letter of
another sender gets the 404 an unknown letter gets, never a 403 that would reveal it exists
(CPCE R.53-3: the letter's existence is the sender's and the recipient's business).

A download is a redirect, not a stream through the archive: the bytes go from the store to the
sender without holding an archive thread or connection, and the ingress that exposes this API
to sender systems exposes the store's endpoint too (presigned uploads already need it). Clients
must not send the API key on to the store (curl, requests and httpx drop it when the redirect
leaves the host).

Errors are JSON `{"reason": "..."}`: 401 without a valid key (Retry-After with 429 after too
many failures from one client address, counted by every replica together), 404 unknown letter
or proof, 503 when the signer does not answer in time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, TypeVar
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from archive.domain.api_keys import FailureLimit, bearer
from archive.service_layer.api_keys import ApiKeys, authenticate
from archive.service_layer.ports import AuthFailures
from lre_shared.clock import Clock
from lre_shared.contracts import (
    BUNDLE,
    EvidenceListed,
    IssueProofLink,
    ListEvidence,
    ListProofs,
    Message,
    ProofKind,
    ProofLinkIssued,
    ProofsListed,
)
from lre_shared.proxies import Network, client_address

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Message)


class Ask(Protocol):
    """Request/reply on the bus (`lre_shared.bus.Bus.ask`)."""

    async def __call__(self, query: Message, answer: type[R], *, timeout: float) -> R: ...


QUERY_SECONDS = 10.0
NO_LETTER = "no such letter for this sender"


def reason(text: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"reason": text}, status_code=status, headers=headers)


@dataclass
class KeyCheck:
    """Who is calling: the sender of a live API key, failures limited per client address (the
    count shared by every replica: one small query for a request, one more for a failure)."""

    keys: ApiKeys
    limit: FailureLimit
    proxies: tuple[Network, ...]
    clock: Clock
    failures: AuthFailures

    async def sender(self, request: Request) -> str | Response:
        address = client_address(request, self.proxies)
        wait = self.limit.retry_after(await self.failures.window(address), self.clock())
        if wait is not None:
            return refused(wait)
        sender_id = await authenticate(self.keys, bearer(request.headers.get("authorization", "")))
        if sender_id is None:
            now = self.clock()
            counted = await self.failures.count(address, now, self.limit)
            log.info("API key refused", extra={"client": address})
            if self.limit.over(counted):  # others from this address filled the window meanwhile
                return refused(self.limit.retry_after(counted, now) or 1)
            return reason(
                "a valid API key is required: Authorization: Bearer lre_…",
                401,
                {"www-authenticate": 'Bearer realm="lre"'},
            )
        return sender_id


def refused(wait: int) -> JSONResponse:
    return reason(
        f"too many failed authentications from this address: retry in {wait} seconds",
        429,
        {"retry-after": str(wait)},
    )


def sender_routes(check: KeyCheck, ask: Ask) -> list[Route]:
    async def letter_of(request: Request) -> tuple[str, UUID] | Response:
        sender = await check.sender(request)
        if isinstance(sender, Response):
            return sender
        try:
            letter_id = UUID(request.path_params["letter_id"])
        except ValueError:
            return reason(NO_LETTER, 404)
        # The archive knows who deposited each letter: another sender's is unknown here, and
        # the signer checks again.
        if await check.keys.letter_sender(letter_id) != sender:
            return reason(NO_LETTER, 404)
        return sender, letter_id

    async def asked(query: Message, answer: type[R]) -> R | Response:
        try:
            return await ask(query, answer, timeout=QUERY_SECONDS)
        except TimeoutError:
            log.warning(
                "the signer did not answer %s",
                query.routing_key,
                extra={"letter_id": str(query.correlation_id)},
            )
            return reason("the evidence service did not answer in time: try again", 503, {"retry-after": "5"})

    async def proofs(request: Request) -> Response:
        """The letter's sealed proofs: kind, file name, SHA-256, issue time, size (API key)."""
        found = await letter_of(request)
        if isinstance(found, Response):
            return found
        sender, letter_id = found
        listed = await asked(ListProofs(correlation_id=letter_id, sender_id=sender), ProofsListed)
        if isinstance(listed, Response):
            return listed
        return JSONResponse(
            {"letter_id": str(letter_id), "proofs": [p.model_dump(mode="json") for p in listed.proofs]}
        )

    async def link(request: Request, kind: str) -> Response:
        found = await letter_of(request)
        if isinstance(found, Response):
            return found
        sender, letter_id = found
        issued = await asked(
            IssueProofLink(correlation_id=letter_id, sender_id=sender, kind=kind), ProofLinkIssued
        )
        if isinstance(issued, Response):
            return issued
        if not issued.url:
            return reason(issued.reason or "nothing to download", 404)
        body = issued.model_dump(mode="json", include={"url", "filename", "sha256", "size", "expires_at"})
        return JSONResponse(body, status_code=302, headers={"location": issued.url})

    async def proof(request: Request) -> Response:
        """302 to one proof PDF of the letter, presigned for a few minutes (API key)."""
        kind = request.path_params["kind"]
        if kind not in {k.value for k in ProofKind}:
            return reason(f"no proof kind {kind!r}: one of {', '.join(k.value for k in ProofKind)}", 404)
        return await link(request, kind)

    async def bundle(request: Request) -> Response:
        """302 to the letter's evidence bundle, the zip `lre verify` checks (API key)."""
        return await link(request, BUNDLE)

    async def evidence(request: Request) -> Response:
        """The letter's evidence records, in chain order (API key)."""
        found = await letter_of(request)
        if isinstance(found, Response):
            return found
        sender, letter_id = found
        query = ListEvidence.model_validate({"correlation_id": letter_id, "sender_id": sender})
        listed = await asked(query, EvidenceListed)
        if isinstance(listed, Response):
            return listed
        return JSONResponse(
            {"letter_id": str(letter_id), "records": [r.model_dump(mode="json") for r in listed.records]}
        )

    return [
        Route("/senders/letters/{letter_id}/proofs", proofs, methods=["GET"]),
        Route("/senders/letters/{letter_id}/proofs/{kind}", proof, methods=["GET"]),
        Route("/senders/letters/{letter_id}/bundle", bundle, methods=["GET"]),
        Route("/senders/letters/{letter_id}/evidence", evidence, methods=["GET"]),
    ]
