"""Identity documents at rest: encrypted by the service itself, stored in S3.

Each object is AES-256-GCM under a key derived (HKDF-SHA256) from the `document_key`
setting, with a fresh 96-bit nonce per object and the object key as associated data, so
an object copied under another key does not decrypt. The store's own server-side
encryption (SeaweedFS SSE) is not relied on: whoever reads the bucket, or its disks,
reads only ciphertext (DESIGN §6: identity documents are personal data).
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from minio.sseconfig import Rule, SSEConfig

from lre_shared import objects

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


class S3DocumentVault:
    def __init__(self, store: objects.Store, bucket: str, sealer: Sealer) -> None:
        self._bucket = store.bucket(bucket)
        self.bucket = bucket
        self._sealer = sealer

    async def ensure_bucket(self) -> None:
        """The bucket, created if missing, encrypted at rest by the store by default (SSE-S3),
        set again at every start: the documents are sealed by this service already, and the
        store encrypts what it keeps as well. The archive sets the same on the same bucket."""
        await self._bucket.ensure()
        await self._bucket.blocking(
            self._bucket.client.set_bucket_encryption, self.bucket, SSEConfig(Rule.new_sse_s3_rule())
        )

    async def put(self, key: str, content: bytes) -> None:
        await self._bucket.put(key, self._sealer.seal(key, content), content_type="application/octet-stream")

    async def get(self, key: str) -> bytes:
        return self._sealer.open(key, await self.get_stored(key))

    async def get_stored(self, key: str) -> bytes:
        """The bytes as the store holds them (ciphertext)."""
        return await self._bucket.get(key)

    async def delete(self, key: str) -> None:
        await self._bucket.remove(key)

    async def exists(self, key: str) -> bool:
        return await self._bucket.exists(key)
