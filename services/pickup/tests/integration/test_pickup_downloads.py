"""Downloads, once the acknowledgement of receipt is signed: each document and the whole
letter as one zip, streamed through the site from the archive's links (served here by a local
HTTP server), the time left of the 48-hour window from the AR's signature, and the page once
it is over. The archive's answers are given by a responder on the bus."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import threading
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from lre_shared.contracts import (
    DownloadLinkIssued,
    IssueDownloadLink,
    IssueZipLink,
    SignatureMethod,
    ZipLinkIssued,
)
from lre_shared.logs import configure_logging
from pickup.adapters.postgres import storage_on
from pickup.entrypoints.site import create_site
from pickup.service_layer import signature
from services.pickup.tests.integration.recipients import Pickup, accepted, answering, deposit
from tests.support import infra
from tests.support.bus import eventually

pytestmark = pytest.mark.integration

ZIP = os.urandom(16 * 1024 * 1024 + 17)  # many chunks, not a multiple of any
PDF = b"%PDF-1.7\n" + os.urandom(300_000) + b"\n%%EOF\n"


class ArchiveHandler(BaseHTTPRequestHandler):
    """The archive's download routes: the zip, a document, and a document whose stream the
    archive breaks off (its bytes no longer match their hash)."""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path  # the link's expiry and token are the archive's to check
        served = {"/zip/pli.zip": ZIP, "/documents/ok": PDF, "/documents/altered": PDF}.get(path)
        if served is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", "application/zip" if served is ZIP else "application/pdf")
        self.send_header("content-length", str(len(served)))
        self.end_headers()
        if path == "/documents/altered":
            served = served[: len(served) // 2]
            self.close_connection = True
        for start in range(0, len(served), 100_000):
            self.wfile.write(served[start : start + 100_000])

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def archive_server() -> Iterator[str]:
    port = infra.free_port_block(1, 24000, 32000)
    server = ThreadingHTTPServer(("127.0.0.1", port), ArchiveHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=5)


async def signed(
    pickup: Pickup, site: httpx.AsyncClient, hours_ago: float = 0, *, accepted_hours_ago: float | None = None
) -> uuid.UUID:
    """A letter whose AR was signed `hours_ago`, accepted then or `accepted_hours_ago`: the
    browser may download."""
    event = await deposit(pickup.amqp_url, pickup)
    await accepted(site, event.item_number)
    accepted_ago = hours_ago if accepted_hours_ago is None else accepted_hours_ago
    if accepted_ago:
        await pickup.runtime.pool.execute(
            "UPDATE letters SET decided_at = decided_at - $2::interval WHERE letter_id = $1",
            event.correlation_id,
            timedelta(hours=accepted_ago),
        )
    await signature.record_signature(
        storage_on(pickup.runtime.pool),
        event.correlation_id,
        SignatureMethod.certificate,
        "Camille Martin",
        now=pickup.clock() - timedelta(hours=hours_ago),
    )
    return event.correlation_id


async def test_no_document_before_the_ar_is_signed(pickup: Pickup) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    document_id = event.documents[0].document_id
    async with (
        answering(pickup.amqp_url, {IssueDownloadLink: lambda q: None}) as archive,
        pickup.browser() as site,
    ):
        await accepted(site, event.item_number)
        pages = [
            await site.get("/courrier"),
            await site.get(f"/courrier/documents/{document_id}"),
            await site.get("/courrier/tout.zip"),
        ]

    assert [(p.status_code, p.headers.get("location")) for p in pages] == [(303, "/signature")] * 3
    assert not archive.of(IssueDownloadLink)


async def test_the_letter_page_lists_the_documents_the_zip_and_the_time_left(pickup: Pickup) -> None:
    async with pickup.browser() as site:
        letter_id = await signed(pickup, site, hours_ago=10)
        page = await site.get("/courrier")

    assert page.status_code == 200
    assert "mise-en-demeure.pdf" in page.text
    assert "Enregistrer tous les documents" in page.text
    assert 'href="/courrier/tout.zip"' in page.text
    assert (
        "Temps restant pour télécharger : 37 h" in page.text
        or "Temps restant pour télécharger : 38 h" in page.text
    )
    assert letter_id


async def test_the_time_left_counts_from_the_signature_not_from_the_acceptance(pickup: Pickup) -> None:
    # Accepted 3 days ago, the identity checked over a weekend, the AR signed 10 hours ago:
    # the content became available 10 hours ago, 38 hours are left.
    async with pickup.browser() as site:
        await signed(pickup, site, hours_ago=10, accepted_hours_ago=72)
        page = await site.get("/courrier")

    assert page.status_code == 200
    assert "mise-en-demeure.pdf" in page.text
    assert (
        "Temps restant pour télécharger : 37 h" in page.text
        or "Temps restant pour télécharger : 38 h" in page.text
    )
    assert "à partir de la signature de l&#39;avis de réception" in page.text


async def test_the_window_closes_48_hours_after_the_signature_however_late_it_came(pickup: Pickup) -> None:
    async with pickup.browser() as site:
        await signed(pickup, site, hours_ago=47, accepted_hours_ago=120)
        still_open = await site.get("/courrier")
    async with pickup.browser() as site:
        await signed(pickup, site, hours_ago=49, accepted_hours_ago=120)
        over = await site.get("/courrier")

    assert still_open.status_code == 200
    assert "Temps restant pour télécharger : 0 h" in still_open.text
    assert over.status_code == 410
    assert "<h1>Fenêtre de téléchargement terminée</h1>" in over.text


def document_link(archive_server: str, path: str) -> object:
    def link(query: IssueDownloadLink) -> DownloadLinkIssued:
        return DownloadLinkIssued(
            correlation_id=query.correlation_id,
            document_id=query.document_id,
            url=f"{archive_server}{path}",
            expires_at=None,
        )

    return link


async def test_a_document_streams_from_the_archives_link_under_its_name(
    pickup: Pickup, archive_server: str
) -> None:
    answers = {IssueDownloadLink: document_link(archive_server, "/documents/ok")}
    async with answering(pickup.amqp_url, answers) as archive, pickup.browser() as site:
        letter_id = await signed(pickup, site)
        row = await pickup.runtime.pool.fetchval(
            "SELECT documents->0->>'document_id' FROM letters WHERE letter_id = $1", letter_id
        )
        answer = await site.get(f"/courrier/documents/{row}")

    assert answer.status_code == 200
    assert answer.content == PDF
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-length"] == str(len(PDF))
    assert answer.headers["content-disposition"].startswith('attachment; filename="mise-en-demeure.pdf"')
    assert [str(q.document_id) for q in archive.of(IssueDownloadLink)] == [row]


async def test_a_document_the_archive_breaks_off_is_an_incomplete_download_never_a_whole_one(
    pickup: Pickup, archive_server: str
) -> None:
    answers = {IssueDownloadLink: document_link(archive_server, "/documents/altered")}
    received = bytearray()
    lengths: list[str] = []

    async def download(site: httpx.AsyncClient, path: str) -> None:
        async with site.stream("GET", path) as answer:
            lengths.append(answer.headers["content-length"])
            async for chunk in answer.aiter_raw():
                received.extend(chunk)

    async with (
        answering(pickup.amqp_url, answers),
        served_site(pickup) as url,
        httpx.AsyncClient(base_url=url) as site,
    ):
        letter_id = await signed(pickup, site)
        row = await pickup.runtime.pool.fetchval(
            "SELECT documents->0->>'document_id' FROM letters WHERE letter_id = $1", letter_id
        )
        with pytest.raises(httpx.RemoteProtocolError):
            await download(site, f"/courrier/documents/{row}")

    # The length the archive announced went on to the browser: it sees the download fail.
    assert lengths == [str(len(PDF))]
    assert len(received) < len(PDF)


async def test_a_document_the_archive_refuses_just_after_signing_asks_to_retry_later_is_not_found(
    pickup: Pickup,
) -> None:
    def refused(query: IssueDownloadLink) -> DownloadLinkIssued:
        return DownloadLinkIssued(
            correlation_id=query.correlation_id,
            document_id=query.document_id,
            url="",
            expires_at=None,
            reason="the acknowledgement of receipt is not signed yet",
        )

    async with answering(pickup.amqp_url, {IssueDownloadLink: refused}), pickup.browser() as site:
        letter_id = await signed(pickup, site)
        document = await pickup.runtime.pool.fetchval(
            "SELECT documents->0->>'document_id' FROM letters WHERE letter_id = $1", letter_id
        )
        fresh = await site.get(f"/courrier/documents/{document}")
        await pickup.runtime.pool.execute(
            "UPDATE letters SET signed_at = signed_at - interval '10 minutes' WHERE letter_id = $1", letter_id
        )
        stale = await site.get(f"/courrier/documents/{document}")

    # The archive hears of the signature by the bus a moment after the site: retry shortly.
    assert fresh.status_code == 503
    assert f'href="/courrier/documents/{document}"' in fresh.text
    assert stale.status_code == 404


LINK_TOKEN = "Zk3q9-secret_link_token"
SIGNED_QUERY = f"?expires=4102444800&token={LINK_TOKEN}"


@pytest.fixture
def service_log() -> Iterator[io.StringIO]:
    """The log as the running service writes it (configure_logging's JSON lines), at DEBUG and
    with the access log on, kept for the test beside pytest's own capture."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    access = logging.getLogger("uvicorn.access")
    access_level = access.level
    written = io.StringIO()
    with contextlib.redirect_stderr(written):
        configure_logging("pickup", "DEBUG")
    handler = root.handlers[0]
    root.handlers[:] = [*handlers, handler]
    access.setLevel(logging.INFO)
    try:
        yield written
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        access.setLevel(access_level)


async def test_the_secret_of_the_archives_links_never_reaches_the_log(
    pickup: Pickup, archive_server: str, service_log: io.StringIO
) -> None:
    def zip_link(query: IssueZipLink) -> ZipLinkIssued:
        return ZipLinkIssued(
            correlation_id=query.correlation_id, url=f"{archive_server}/zip/pli.zip{SIGNED_QUERY}"
        )

    def gone_link(query: IssueDownloadLink) -> DownloadLinkIssued:
        url = f"{archive_server}/documents/gone{SIGNED_QUERY}"
        return DownloadLinkIssued(
            correlation_id=query.correlation_id, document_id=query.document_id, url=url, expires_at=None
        )

    answers = {IssueZipLink: zip_link, IssueDownloadLink: gone_link}
    async with (
        answering(pickup.amqp_url, answers),
        served_site(pickup) as url,
        httpx.AsyncClient(base_url=url) as site,
    ):
        letter_id = await signed(pickup, site)
        document = await pickup.runtime.pool.fetchval(
            "SELECT documents->0->>'document_id' FROM letters WHERE letter_id = $1", letter_id
        )
        whole = await site.get("/courrier/tout.zip")
        failed = await site.get(f"/courrier/documents/{document}")

    assert whole.status_code == 200
    assert failed.status_code == 503
    written = service_log.getvalue()
    # The links were logged (the HTTP client writes each request), their secret was not.
    assert "/zip/pli.zip?expires=4102444800&token=[redacted]" in written
    assert LINK_TOKEN not in written


@asynccontextmanager
async def served_site(pickup: Pickup) -> AsyncIterator[str]:
    """The site behind a real HTTP server, so that a response arrives as it is streamed."""
    port = infra.free_port_block(1, 24000, 32000)
    app = create_site(pickup.runtime, pickup.settings, pickup.clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_save_all_streams_the_archives_zip_through_the_site_byte_for_byte_in_constant_memory(
    pickup: Pickup, archive_server: str
) -> None:
    def zip_link(query: IssueZipLink) -> ZipLinkIssued:
        return ZipLinkIssued(
            correlation_id=query.correlation_id,
            url=f"{archive_server}/zip/pli.zip",
            filename="pli_123456789012.zip",
        )

    archive_answers = answering(pickup.amqp_url, {IssueZipLink: zip_link})
    async with (
        archive_answers as archive,
        served_site(pickup) as url,
        httpx.AsyncClient(base_url=url) as site,
    ):
        letter_id = await signed(pickup, site)
        digest = hashlib.sha256()
        chunks = 0
        tracemalloc.start()
        try:
            async with site.stream("GET", "/courrier/tout.zip") as answer:
                async for chunk in answer.aiter_raw():
                    digest.update(chunk)
                    chunks += 1
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith('attachment; filename="pli_123456789012.zip"')
    assert answer.headers["content-length"] == str(len(ZIP))
    assert digest.hexdigest() == hashlib.sha256(ZIP).hexdigest()
    assert chunks > 10  # passed on as it came, not gathered first
    # The site (upstream reads, response writes) and this client together held a few chunks
    # at a time, never the whole zip.
    print(f"zip of {len(ZIP)} bytes streamed in {chunks} chunks, traced memory peak {peak} bytes")
    assert peak < len(ZIP) // 4, f"peak {peak} bytes for a {len(ZIP)}-byte zip"
    assert [q.correlation_id for q in archive.of(IssueZipLink)] == [letter_id]


async def test_a_zip_link_the_archive_cannot_serve_gives_the_unavailable_page(
    pickup: Pickup, archive_server: str
) -> None:
    def broken(query: IssueZipLink) -> ZipLinkIssued:
        return ZipLinkIssued(correlation_id=query.correlation_id, url=f"{archive_server}/zip/gone.zip")

    async with answering(pickup.amqp_url, {IssueZipLink: broken}), pickup.browser() as site:
        await signed(pickup, site)
        answer = await site.get("/courrier/tout.zip")

    assert answer.status_code == 503
    assert 'href="/courrier/tout.zip"' in answer.text


async def test_after_48_hours_the_download_window_over_page_replaces_the_documents(pickup: Pickup) -> None:
    async with (
        answering(pickup.amqp_url, {IssueZipLink: lambda q: None}) as archive,
        pickup.browser() as site,
    ):
        await signed(pickup, site, hours_ago=49)
        page = await site.get("/courrier")
        zip_answer = await site.get("/courrier/tout.zip")

    assert page.status_code == 410
    assert "<h1>Fenêtre de téléchargement terminée</h1>" in page.text
    assert "mise-en-demeure.pdf" not in page.text
    assert zip_answer.status_code == 410
    assert not archive.of(IssueZipLink)
