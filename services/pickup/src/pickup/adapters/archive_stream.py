"""A letter's document or zip, read from the archive's short-lived link as it arrives.

The archive checks the bytes against their hash as it reads them and breaks the stream off
on a mismatch; passing on its announced length makes such a stream an incomplete download
for the browser, never a silent one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from lre_shared import tracing
from pickup.service_layer.ports import ArchiveStream, ServiceUnavailable

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpArchive:
    connect_timeout: float

    async def open(self, url: str, name: str) -> ArchiveStream:
        return await open_stream(url, name, self.connect_timeout)


async def open_stream(url: str, name: str, connect_timeout: float) -> ArchiveStream:
    """The body at `url`, chunk by chunk, in constant memory; `ServiceUnavailable` (naming
    `name`) when the archive cannot be reached or does not serve it."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=connect_timeout))
    try:
        # The trace goes on into the archive, which records the download as it ends.
        request = client.build_request("GET", url, headers=tracing.inject())
        upstream = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise ServiceUnavailable(f"{name}: {exc!r}") from exc
    if upstream.status_code != 200:
        await upstream.aclose()
        await client.aclose()
        raise ServiceUnavailable(f"{name}: HTTP {upstream.status_code}")

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_bytes(CHUNK_BYTES):
                yield chunk
        finally:
            await upstream.aclose()
            await client.aclose()

    length = upstream.headers.get("content-length")
    return ArchiveStream(body(), length if "content-encoding" not in upstream.headers else None)
