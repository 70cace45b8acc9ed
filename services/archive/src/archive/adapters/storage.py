"""Content storage on an S3-compatible store (SeaweedFS here), through the minio client.

The minio client is synchronous: every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

from minio import Minio


class IntegrityError(Exception):
    """Stored bytes no longer match the hash recorded at deposit."""


class ContentStore(Protocol):
    async def ensure_bucket(self) -> None: ...
    async def put(self, key: str, content: bytes, sha256: str) -> None: ...
    async def get(self, key: str, sha256: str) -> bytes: ...
    async def download_url(self, key: str, filename: str, expires: timedelta) -> str: ...


def _client(endpoint: str, access_key: str, secret_key: str, region: str) -> Minio:
    parts = urlsplit(endpoint)
    return Minio(
        parts.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=parts.scheme == "https",
        region=region,  # known region: presigning needs no round trip
    )


class S3ContentStore:
    def __init__(
        self,
        endpoint: str,
        public_endpoint: str | None,
        access_key: str,
        secret_key: str,
        region: str,
        bucket: str,
    ) -> None:
        self._client = _client(endpoint, access_key, secret_key, region)
        self._public = _client(public_endpoint or endpoint, access_key, secret_key, region)
        self._bucket = bucket

    async def ensure_bucket(self) -> None:
        def ensure() -> None:
            if not self._client.bucket_exists(self._bucket):
                self._client.make_bucket(self._bucket)

        await asyncio.to_thread(ensure)

    async def put(self, key: str, content: bytes, sha256: str) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            self._bucket,
            key,
            io.BytesIO(content),
            len(content),
            content_type="application/pdf",
            metadata={"sha256": sha256},
        )

    async def get(self, key: str, sha256: str) -> bytes:
        def fetch() -> bytes:
            response = self._client.get_object(self._bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        content = await asyncio.to_thread(fetch)
        if hashlib.sha256(content).hexdigest() != sha256:
            raise IntegrityError(f"{key}: stored bytes do not match the deposit hash")
        return content

    async def download_url(self, key: str, filename: str, expires: timedelta) -> str:
        safe = filename.replace('"', "").replace("\\", "")
        return await asyncio.to_thread(
            self._public.presigned_get_object,
            self._bucket,
            key,
            expires=expires,
            response_headers={"response-content-disposition": f'attachment; filename="{safe}"'},
        )
