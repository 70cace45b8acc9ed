"""Identity documents at rest: encrypted by the service itself, stored in S3.

Each object is AES-256-GCM under a key derived (HKDF-SHA256) from the `document_key`
setting, with a fresh 96-bit nonce per object and the object key as associated data, so
an object copied under another key does not decrypt. The store's own server-side
encryption (SeaweedFS SSE) is not relied on: whoever reads the bucket, or its disks,
reads only ciphertext (DESIGN §6: identity documents are personal data).

The minio client is synchronous: every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
import os
from typing import Protocol
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from minio import Minio
from minio.error import S3Error
from minio.sseconfig import Rule, SSEConfig

NONCE_BYTES = 12
FORMAT = b"LREv1"  # leading bytes of every object: the format, should it ever change


def derive_key(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lre-verification " + purpose).derive(
        secret.encode()
    )


class Sealer:
    """AES-256-GCM with a random nonce per object."""

    def __init__(self, secret: str) -> None:
        self._aead = AESGCM(derive_key(secret, b"documents"))

    def seal(self, key: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT + nonce + self._aead.encrypt(nonce, plaintext, key.encode())

    def open(self, key: str, sealed: bytes) -> bytes:
        if not sealed.startswith(FORMAT):
            raise ValueError(f"{key}: not a sealed document")
        body = sealed[len(FORMAT) :]
        return self._aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], key.encode())


class DocumentVault(Protocol):
    async def put(self, key: str, content: bytes) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...


class S3DocumentVault:
    def __init__(
        self, endpoint: str, access_key: str, secret_key: str, region: str, bucket: str, sealer: Sealer
    ) -> None:
        parts = urlsplit(endpoint)
        self._client = Minio(
            parts.netloc,
            access_key=access_key,
            secret_key=secret_key,
            secure=parts.scheme == "https",
            region=region,
        )
        self.bucket = bucket
        self._sealer = sealer

    async def ensure_bucket(self) -> None:
        """The bucket, created if missing, encrypted at rest by the store by default (SSE-S3),
        set again at every start: the documents are sealed by this service already, and the
        store encrypts what it keeps as well. The archive sets the same on the same bucket."""

        def create() -> None:
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:  # another replica created it first
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            self._client.set_bucket_encryption(self.bucket, SSEConfig(Rule.new_sse_s3_rule()))

        await asyncio.to_thread(create)

    async def put(self, key: str, content: bytes) -> None:
        sealed = self._sealer.seal(key, content)
        await asyncio.to_thread(
            self._client.put_object,
            self.bucket,
            key,
            io.BytesIO(sealed),
            len(sealed),
            content_type="application/octet-stream",
        )

    async def get(self, key: str) -> bytes:
        return self._sealer.open(key, await self.get_stored(key))

    async def get_stored(self, key: str) -> bytes:
        """The bytes as the store holds them (ciphertext)."""

        def fetch() -> bytes:
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(fetch)

    async def delete(self, key: str) -> None:
        # S3 answers a delete of a missing key with success: sweeping twice is harmless.
        await asyncio.to_thread(self._client.remove_object, self.bucket, key)

    async def exists(self, key: str) -> bool:
        def stat() -> bool:
            try:
                self._client.stat_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject"):
                    return False
                raise
            return True

        return await asyncio.to_thread(stat)
