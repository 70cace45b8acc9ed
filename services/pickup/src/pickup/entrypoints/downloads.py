"""The letter's documents, once the acknowledgement of receipt is signed (DESIGN §2 step 6).

Each document, and "Enregistrer tous les documents" (one zip the archive builds), comes
through a short-lived link from the archive, which checks the bytes against their hash as it
reads them; this site streams it on chunk by chunk, so memory stays flat whatever the
letter's size, and passes on the announced length, so a stream the archive broke off (bytes
that no longer match) is an incomplete download, never a silent one. Both only within the
download window: 48 hours from the signature of the acknowledgement of receipt, when the
content became available (rules profile, the archive's rule too), after which the archive
deletes the content.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from urllib.parse import quote

import httpx
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from lre_shared import metrics, tracing
from lre_shared.messages import DownloadLinkIssued, IssueDownloadLink, IssueZipLink, ZipLinkIssued
from pickup.entrypoints.pages import ServiceUnavailable, Site, step_of
from pickup.service_layer.handlers import LetterView

CHUNK_BYTES = 64 * 1024


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name (RFC 6266, RFC 8187)."""
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\;' else "_" for ch in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def routes(site: Site) -> list[BaseRoute]:
    async def signed_letter(request: Request) -> LetterView | Response:
        """The identified letter when its content may be downloaded now, else the page to show."""
        letter = await site.identified_letter(request)
        if letter is None:
            return RedirectResponse("/", 303)
        if step_of(letter) != "/courrier":
            return RedirectResponse(step_of(letter), 303)
        ends_at = site.download_window_ends_at(letter)
        if ends_at is not None and site.clock() >= ends_at:
            return site.render(
                request, "download_over.html", 410, until=ends_at, hours=site.rules.download_hours
            )
        return letter

    async def letter_page(request: Request) -> Response:
        letter = await signed_letter(request)
        if isinstance(letter, Response):
            return letter
        ends_at = site.download_window_ends_at(letter)
        left = remaining(ends_at, site.clock())
        return site.render(
            request,
            "letter.html",
            letter=letter,
            ends_at=ends_at,
            left=left,
            hours=site.rules.download_hours,
            total_kb=round(sum(int(d["size"]) for d in letter.documents) / 1024, 1),
        )

    async def document_download(request: Request) -> Response:
        letter = await signed_letter(request)
        if isinstance(letter, Response):
            return letter
        document_id = request.path_params["document_id"]
        document = next((d for d in letter.documents if d["document_id"] == str(document_id)), None)
        if document is None:
            return site.render(request, "not_found.html", 404)
        reply = await site.ask(
            IssueDownloadLink(correlation_id=letter.letter_id, document_id=document_id), DownloadLinkIssued
        )
        if not reply.url:
            # The archive hears of the signature by the bus, a moment after this site.
            site.catching_up(letter.signed_at, f"document: {reply.reason}")
            return site.render(request, "not_found.html", 404)
        response = await stream_from(
            reply.url, document["filename"], "application/pdf", site.settings.request_timeout_seconds
        )
        metrics.pickup_step("downloaded")
        return response

    async def all_documents(request: Request) -> Response:
        letter = await signed_letter(request)
        if isinstance(letter, Response):
            return letter
        issued = await site.ask(IssueZipLink(correlation_id=letter.letter_id), ZipLinkIssued)
        if not issued.url:
            # The same, and the zip waits for the signer's envelope proof.
            site.catching_up(letter.signed_at, f"zip: {issued.reason}")
            return site.render(request, "not_found.html", 404)
        filename = issued.filename or f"pli_{letter.item_number}.zip"
        response = await stream_from(
            issued.url, filename, "application/zip", site.settings.request_timeout_seconds
        )
        metrics.pickup_step("downloaded")
        return response

    return [
        Route("/courrier", letter_page),
        Route("/courrier/documents/{document_id:uuid}", document_download),
        Route("/courrier/tout.zip", all_documents),
    ]


def remaining(ends_at: datetime | None, now: datetime) -> tuple[int, int] | None:
    """Hours and minutes left until `ends_at`."""
    if ends_at is None:
        return None
    minutes = max(int((ends_at - now).total_seconds() // 60), 0)
    return minutes // 60, minutes % 60


async def stream_from(url: str, filename: str, media_type: str, connect_timeout: float) -> Response:
    """Pass the body at `url` on to the browser as it arrives, in constant memory."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=connect_timeout))
    try:
        # The trace goes on into the archive, which records the download as it ends.
        request = client.build_request("GET", url, headers=tracing.inject())
        upstream = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise ServiceUnavailable(f"{filename}: {exc!r}") from exc
    if upstream.status_code != 200:
        await upstream.aclose()
        await client.aclose()
        raise ServiceUnavailable(f"{filename}: HTTP {upstream.status_code}")

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_bytes(CHUNK_BYTES):
                yield chunk
        finally:
            await upstream.aclose()
            await client.aclose()

    headers = {"content-disposition": content_disposition(filename)}
    length = upstream.headers.get("content-length")
    if length is not None and "content-encoding" not in upstream.headers:
        headers["content-length"] = length
    return StreamingResponse(body(), media_type=media_type, headers=headers)
