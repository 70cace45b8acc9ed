"""The archive's HTTP routes.

- `POST /uploads` (sender systems, `Authorization: Bearer <API key>`): a presigned upload, as
  `RequestUpload` gives on the bus. Body (JSON): `{"filename": "...", "size": 123,
  "letter_id": "...", "sha256": "..."}` (all but the file name optional); answer:
  `{"upload_id", "url", "expires_at", "max_bytes", "headers"}`, or `{"reason"}`.
- `GET /letters/<letter id>/documents/<document id>?expires=…&token=…` (the pickup site,
  with a link from `IssueDownloadLink`): one document, streamed, its length announced; bytes
  that no longer match their hash break the stream before its last chunk, so no altered
  document is ever received whole.
- `GET /letters/<letter id>/zip?expires=…&token=…` (the pickup site, with a link from
  `IssueZipLink`): the whole letter as one zip, streamed in constant memory; a document whose
  bytes no longer match their hash breaks the stream, so no altered zip is ever complete.

A download that went out whole is the letter's first, if none was before: `ContentHandedOver`.

Sender systems' proofs, bundle and evidence: `entrypoints/senders_http.py`, with the same keys.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from uuid import UUID

from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from archive.adapters.storage import ContentStore
from archive.adapters.zipstream import stream_zip
from archive.domain.links import Links, check_link, document_path, zip_path
from archive.entrypoints.senders_http import Ask, KeyCheck, sender_routes
from archive.service_layer.handlers import OpenDocument, open_document, record_download
from archive.service_layer.ports import UnitsOfWork
from archive.service_layer.uploads import UploadDesk
from archive.service_layer.zip import OpenZip, open_zip
from lre_shared.clock import Clock

log = logging.getLogger(__name__)


class UploadRequest(BaseModel):
    filename: str = Field(min_length=1, max_length=200)
    size: int | None = Field(default=None, ge=0)
    letter_id: UUID | None = None  # with sha256: the PUT goes straight to the content key
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


def create_site(
    units: UnitsOfWork,
    *,
    store: ContentStore,
    desk: UploadDesk,
    keys: KeyCheck,
    ask: Ask,
    links: Links,
    clock: Clock,
) -> Starlette:
    async def request_upload(request: Request) -> Response:
        sender_id = await keys.sender(request)
        if isinstance(sender_id, Response):
            return sender_id
        try:
            body = UploadRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"reason": f"malformed request: {exc.errors()[0]['msg']}"}, status_code=422)
        async with units() as uow:
            # The request's fields are the grant's own: file name, size, letter id, hash.
            granted = await desk.grant(uow.uploads, sender_id=sender_id, **body.model_dump())
        payload = granted.model_dump(
            mode="json", include={"upload_id", "url", "expires_at", "max_bytes", "headers", "reason"}
        )
        return JSONResponse(payload, status_code=201 if granted.upload_id else 422)

    def refused_link(request: Request, path: str) -> Response | None:
        refused = check_link(
            links.key,
            path,
            request.query_params.get("expires", ""),
            request.query_params.get("token", ""),
            clock(),
        )
        return None if refused is None else PlainTextResponse(refused, status_code=403)

    async def letter_document(request: Request) -> Response:
        try:
            letter_id = UUID(request.path_params["letter_id"])
            document_id = UUID(request.path_params["document_id"])
        except ValueError:
            return PlainTextResponse("no such document", status_code=404)
        if refused := refused_link(request, document_path(letter_id, document_id)):
            return refused
        async with units() as uow:
            opened = await open_document(uow.documents, letter_id, document_id, store=store, now=clock())
        if not isinstance(opened, OpenDocument):
            return PlainTextResponse(opened, status_code=410)
        return StreamingResponse(
            _then_record(opened.chunks, letter_id, document_id),
            media_type="application/pdf",
            # Announced: a stream broken off before its end is an incomplete download. The
            # pickup site, which streams it on, names the file.
            headers={"content-length": str(opened.size)},
        )

    async def letter_zip(request: Request) -> Response:
        try:
            letter_id = UUID(request.path_params["letter_id"])
        except ValueError:
            return PlainTextResponse("no such letter", status_code=404)
        if refused := refused_link(request, zip_path(letter_id)):
            return refused
        async with units() as uow:
            opened = await open_zip(uow, letter_id, store=store, now=clock())
        if not isinstance(opened, OpenZip):
            return PlainTextResponse(opened, status_code=410)
        return StreamingResponse(
            _then_record(stream_zip(opened.entries), letter_id),
            media_type="application/zip",
            headers={"content-disposition": f'attachment; filename="{opened.filename}"'},
        )

    async def _then_record(
        chunks: AsyncIterator[bytes], letter_id: UUID, document_id: UUID | None = None
    ) -> AsyncIterator[bytes]:
        """`chunks` passed on; once they are all read (every byte hash-checked), the download
        is recorded, then the last chunk goes. Recorded before it, not after: a client that
        holds every announced byte may hang up at once, and this would be cancelled."""
        held: bytes | None = None
        try:
            async for chunk in chunks:
                if held is not None:
                    yield held
                held = chunk
        except Exception:
            log.exception(
                "download broken off",
                extra={"letter_id": str(letter_id), "document_id": str(document_id or "zip")},
            )
            raise
        # The letter's first download, if it is.
        await record_download(units, letter_id, clock=clock, document_id=document_id)
        if held is not None:
            yield held

    return Starlette(
        routes=[
            Route("/uploads", request_upload, methods=["POST"]),
            Route("/letters/{letter_id}/documents/{document_id}", letter_document, methods=["GET"]),
            Route("/letters/{letter_id}/zip", letter_zip, methods=["GET"]),
            *sender_routes(keys, ask),
        ]
    )
