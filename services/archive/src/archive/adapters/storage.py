"""Content storage on an S3-compatible store (SeaweedFS here), through `lre_shared.objects`.

Calls run on threads of the store's own (`threads`, ARCHIVE_S3_THREADS) rather than
asyncio's default executor, which has cpu count + 4 threads: on a small node, a few zip
downloads streaming at once would otherwise leave deposits queueing for a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol, cast

from minio.commonconfig import COMPLIANCE, ENABLED, REPLACE, CopySource, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig
from minio.lifecycleconfig import Rule as LifecycleRule
from minio.objectlockconfig import DAYS, ObjectLockConfig
from minio.sseconfig import Rule as SseRule
from minio.sseconfig import SSEConfig

from lre_shared import objects


class IntegrityError(Exception):
    """Stored bytes no longer match the hash recorded at deposit."""


CHUNK_BYTES = 1024 * 1024


class ContentStore(Protocol):
    def stream(self, key: str, sha256: str) -> AsyncIterator[bytes]: ...
    async def put(self, key: str, content: bytes, sha256: str) -> None: ...
    async def get(self, key: str, sha256: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    async def delete_under(self, prefix: str) -> None: ...


@dataclass
class SpooledUpload:
    """An uploaded object as read once: its size, SHA-256 and ETag, and its bytes in a
    temporary file (in memory up to 1 MiB, on disk beyond); `file` is None when the object
    was larger than allowed and was not read."""

    size: int
    sha256: str
    etag: str
    file: BinaryIO | None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


UPLOAD_HEADERS = {"If-None-Match": "*"}  # signed into upload URLs: one PUT, never a second


class UploadChanged(Exception):
    """The uploaded object changed between its reading and its copy: read it again."""


class UploadStore(Protocol):
    async def upload_url(self, key: str, expires: timedelta, issued_at: datetime) -> str: ...
    async def spool(self, key: str, max_bytes: int) -> SpooledUpload | None: ...
    async def adopt(self, upload_key: str, key: str, sha256: str, etag: str) -> None: ...
    async def delete(self, key: str) -> None: ...


class S3ContentStore:
    def __init__(self, store: objects.Store, bucket: str, *, threads: int = 16) -> None:
        self._store = store.bucket(bucket, threads=threads)
        self._client = self._store.client
        self._blocking = self._store.blocking
        self._links = store
        self._bucket = bucket

    async def put(self, key: str, content: bytes, sha256: str) -> None:
        await self._store.put(key, content, content_type="application/pdf", metadata={"sha256": sha256})

    async def get(self, key: str, sha256: str) -> bytes:
        content = await self._store.get(key)
        if hashlib.sha256(content).hexdigest() != sha256:
            raise IntegrityError(f"{key}: stored bytes do not match the deposit hash")
        return content

    async def stream(self, key: str, sha256: str) -> AsyncIterator[bytes]:
        """The object in chunks of at most CHUNK_BYTES, its hash checked on the way. The last
        chunk is held back until the hash is checked: bytes that are not those deposited
        raise IntegrityError before it, so a reader never gets them whole."""
        response = await self._blocking(self._client.get_object, self._bucket, key)
        digest = hashlib.sha256()
        try:
            held = await self._blocking(response.read, CHUNK_BYTES)
            while held:
                digest.update(held)
                chunk = await self._blocking(response.read, CHUNK_BYTES)
                if not chunk:
                    break
                yield held
                held = chunk
        finally:
            response.close()
            response.release_conn()
        if digest.hexdigest() != sha256:
            raise IntegrityError(f"{key}: stored bytes do not match the deposit hash")
        if held:
            yield held

    async def delete(self, key: str) -> None:
        await self._store.remove(key)

    async def delete_under(self, prefix: str) -> None:
        for key in await self._store.keys(prefix):
            await self._store.remove(key)

    async def upload_url(self, key: str, expires: timedelta, issued_at: datetime) -> str:
        """A presigned PUT URL, as the sender reaches the store; valid `expires` from
        `issued_at` (the archive's clock), after which the store refuses the PUT. The PUT must
        carry UPLOAD_HEADERS: the object is written once, never replaced."""
        return self._links.link(
            "PUT", self._bucket, key, issued_at=issued_at, expires=expires, headers=UPLOAD_HEADERS
        )

    async def spool(self, key: str, max_bytes: int) -> SpooledUpload | None:
        """Read an uploaded object once, hashing it on the way; None when nothing is there."""

        def read() -> SpooledUpload | None:
            try:
                response = self._client.get_object(self._bucket, key)
            except S3Error as exc:
                if exc.code in objects.NOT_FOUND:
                    return None
                raise
            try:
                size = int(response.headers.get("content-length", "0"))
                etag = response.headers.get("etag", "").strip('"')
                if size > max_bytes:
                    return SpooledUpload(size, "", etag, None)
                digest = hashlib.sha256()
                # Closed by its owner (the deposit), once the bytes are copied or refused.
                file = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=CHUNK_BYTES))  # noqa: SIM115
                while chunk := response.read(CHUNK_BYTES):
                    digest.update(chunk)
                    file.write(chunk)
                return SpooledUpload(file.tell(), digest.hexdigest(), etag, file)
            finally:
                response.close()
                response.release_conn()

        return await self._blocking(read)

    async def adopt(self, upload_key: str, key: str, sha256: str, etag: str) -> None:
        """Copy an uploaded object to its content key, inside the store: the copy must be the
        very bytes that were read and hashed (same ETag), or it is removed and UploadChanged
        raised, since the sender may PUT again to its URL until the URL expires."""

        def copy() -> str | None:
            result = self._client.copy_object(
                self._bucket,
                key,
                CopySource(self._bucket, upload_key, match_etag=etag),
                metadata={"sha256": sha256, "Content-Type": "application/pdf"},
                metadata_directive=REPLACE,
            )
            return str(result.etag) if result.etag else None

        try:
            copied = await self._blocking(copy)
        except S3Error as exc:
            if exc.code == "PreconditionFailed":
                raise UploadChanged(f"{upload_key} changed while it was being deposited") from exc
            raise
        if (copied or "").strip('"') != etag:
            await self.delete(key)
            raise UploadChanged(f"{upload_key} changed while it was being deposited")


@dataclass(frozen=True)
class BucketPlan:
    """The archive's buckets and the settings each one must have (DESIGN §6)."""

    content: str
    content_expiry_days: int
    evidence: str
    evidence_retention_days: int
    identity: str


# A bucket exists but cannot be given the settings it needs: refuse to start.
BucketError = objects.BucketError


class S3Buckets:
    """Creates the archive's buckets at start, and (re)applies their settings; safe to run
    at every start and from several replicas at once."""

    def __init__(self, store: objects.Store) -> None:
        self._client = store.client()

    async def ensure(self, plan: BucketPlan) -> None:
        await asyncio.to_thread(self._ensure, plan)

    def _ensure(self, plan: BucketPlan) -> None:
        # Content: the sweeper deletes each letter's documents on time; the lifecycle rule is
        # the backstop that bounds how long anything (orphans of a crash too) can stay.
        self._make(plan.content)
        self._client.set_bucket_lifecycle(
            plan.content,
            LifecycleConfig(
                [
                    LifecycleRule(
                        ENABLED,
                        rule_filter=Filter(prefix=""),
                        rule_id="content-expiry",
                        expiration=Expiration(days=plan.content_expiry_days),
                    )
                ]
            ),
        )
        # Evidence: compliance-mode object lock (DESIGN §3), so no one, root included, deletes
        # or shortens a record before its date; object lock can only be chosen at creation.
        if not self._make(plan.evidence, object_lock=True):
            objects.require_object_lock(self._client, plan.evidence)
        self._client.set_object_lock_config(
            plan.evidence, ObjectLockConfig(COMPLIANCE, plan.evidence_retention_days, DAYS)
        )
        # Identity documents: encrypted at rest by default (SSE-S3).
        self._make(plan.identity)
        self._client.set_bucket_encryption(plan.identity, SSEConfig(SseRule.new_sse_s3_rule()))

    def _make(self, bucket: str, *, object_lock: bool = False) -> bool:
        """Create `bucket`; False when it was already there."""
        return objects.make_bucket(self._client, bucket, object_lock=object_lock)
