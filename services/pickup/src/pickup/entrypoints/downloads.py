"""The letter's documents, once the acknowledgement of receipt is signed (DESIGN §2 step 6).

Each document, and "Enregistrer tous les documents" (one zip the archive builds), comes
through a short-lived link from the archive, which checks the bytes against their hash as it
reads them; this site streams it on chunk by chunk (`adapters.archive_stream`), so memory
stays flat whatever the letter's size, and passes on the announced length, so a stream the
archive broke off (bytes that no longer match) is an incomplete download, never a silent one.
Both only within the download window: 48 hours from the signature of the acknowledgement of
receipt, when the content became available (rules profile, the archive's rule too), after
which the archive deletes the content.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from lre_shared import metrics
from lre_shared.contracts import DownloadLinkIssued, IssueDownloadLink, IssueZipLink, ZipLinkIssued
from pickup.domain.letter import LetterView
from pickup.entrypoints.pages import Endpoint, LetterPage, Site, letter_at, site_of


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name (RFC 6266, RFC 8187)."""
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\;' else "_" for ch in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download_page(page: LetterPage) -> Endpoint:
    """A page for the identified letter while its content may be downloaded, else the page to
    show (where the recipient stands, or the window's end)."""

    async def endpoint(request: Request) -> Response:
        site = site_of(request)
        letter = await letter_at(request, "/courrier")
        if isinstance(letter, Response):
            return letter
        ends_at = site.download_window_ends_at(letter)
        if ends_at is not None and site.clock() >= ends_at:
            return site.pages.render(
                request, "download_over.html", 410, until=ends_at, hours=site.rules.download_hours
            )
        return await page(request, site, letter)

    endpoint.__name__ = page.__name__
    return endpoint


@download_page
async def letter_page(request: Request, site: Site, letter: LetterView) -> Response:
    ends_at = site.download_window_ends_at(letter)
    left = remaining(ends_at, site.clock())
    return site.pages.render(
        request,
        "letter.html",
        letter=letter,
        ends_at=ends_at,
        left=left,
        hours=site.rules.download_hours,
        total_kb=round(sum(int(d["size"]) for d in letter.documents) / 1024, 1),
    )


@download_page
async def document_download(request: Request, site: Site, letter: LetterView) -> Response:
    document_id = request.path_params["document_id"]
    document = next((d for d in letter.documents if d["document_id"] == str(document_id)), None)
    if document is None:
        return site.pages.render(request, "not_found.html", 404)
    reply = await site.services.ask(
        IssueDownloadLink(correlation_id=letter.letter_id, document_id=document_id), DownloadLinkIssued
    )
    refusal = f"document: {reply.reason}"
    return await hand_over(request, site, letter, reply.url, refusal, document["filename"], "application/pdf")


@download_page
async def all_documents(request: Request, site: Site, letter: LetterView) -> Response:
    issued = await site.services.ask(IssueZipLink(correlation_id=letter.letter_id), ZipLinkIssued)
    filename = issued.filename or f"pli_{letter.item_number}.zip"
    return await hand_over(
        request, site, letter, issued.url, f"zip: {issued.reason}", filename, "application/zip"
    )


async def hand_over(
    request: Request,
    site: Site,
    letter: LetterView,
    url: str | None,
    refusal: str,
    filename: str,
    media_type: str,
) -> Response:
    """The content at the archive's link; with no link, the archive's `refusal`."""
    if not url:
        # The archive hears of the signature by the bus, a moment after this site (and the
        # zip waits for the signer's envelope proof).
        site.catching_up(letter.signed_at, refusal)
        return site.pages.render(request, "not_found.html", 404)
    response = await stream_from(site, url, filename, media_type)
    metrics.pickup_step("downloaded")
    return response


ROUTES: list[BaseRoute] = [
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


async def stream_from(site: Site, url: str, filename: str, media_type: str) -> Response:
    """Pass the body at `url` on to the browser as it arrives, in constant memory."""
    stream = await site.archive.open(url, filename)
    headers = {"content-disposition": content_disposition(filename)}
    if stream.length is not None:
        headers["content-length"] = stream.length
    return StreamingResponse(stream.chunks, media_type=media_type, headers=headers)
