"""Objects on an S3-compatible store (SeaweedFS here), through the minio client.

Three buckets, shared by the services that keep files: letters' content (the archive), the
evidence (the signer writes it, the archive sets its lock), identity documents (the
verification desk writes them, sealed; the archive sets their encryption). Each service names
them in its settings, with these defaults.

The minio client is synchronous: every call runs in a worker thread, asyncio's by default, or
a pool of the store's own when one is given (the archive's, so that zip downloads streaming at
once do not leave deposits queueing for a thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import io
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.retention import Retention

from lre_shared.presign import presign

CONTENT_BUCKET = "lre-content"
EVIDENCE_BUCKET = "lre-evidence"
IDENTITY_BUCKET = "lre-identity"

NOT_FOUND = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
ALREADY_THERE = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})

T = TypeVar("T")


class BucketError(RuntimeError):
    """A bucket exists but cannot be given the settings it needs: the service must not start."""


@dataclass(frozen=True)
class Retained:
    """A stored version read back with its object lock, if any."""

    content: bytes
    mode: str | None
    retain_until: datetime | None


def client(endpoint: str, access_key: str, secret_key: str, region: str) -> Minio:
    parts = urlsplit(endpoint)
    return Minio(
        parts.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=parts.scheme == "https",
        region=region,  # known region: presigning needs no round trip
    )


def make_bucket(store: Minio, bucket: str, *, object_lock: bool = False) -> bool:
    """Create `bucket`; False when it was already there (made by another replica or service
    at the same start: the first one wins)."""
    if store.bucket_exists(bucket):
        return False
    try:
        store.make_bucket(bucket, object_lock=object_lock)
    except S3Error as exc:
        if exc.code in ALREADY_THERE:
            return False
        raise
    return True


def require_object_lock(store: Minio, bucket: str) -> None:
    """Object lock can only be chosen at a bucket's creation: a bucket that exists without
    it is refused, since what goes there could be erased."""
    try:
        store.get_object_lock_config(bucket)
    except S3Error as exc:
        raise BucketError(
            f"bucket {bucket} exists without object lock: evidence could be deleted;"
            " use a bucket created with object lock (compliance mode)"
        ) from exc


@dataclass(frozen=True)
class Store:
    """An S3-compatible store and the keys to it. `public_endpoint` is its address as systems
    outside the platform reach it, which presigned links are made for (default: `endpoint`)."""

    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str
    public_endpoint: str | None = None

    def client(self) -> Minio:
        return client(self.endpoint, self.access_key, self.secret_key, self.region)

    def bucket(self, name: str, *, threads: int | None = None) -> Bucket:
        return Bucket(self.endpoint, self.access_key, self.secret_key, self.region, name, threads=threads)

    def link(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        issued_at: datetime,
        expires: timedelta,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """A presigned URL to `key` at the public endpoint, valid `expires` from `issued_at`;
        the request must carry `headers` exactly. Made here, with no round trip to the store."""
        return presign(
            method,
            self.public_endpoint or self.endpoint,
            bucket,
            key,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            issued_at=issued_at,
            expires=expires,
            headers=headers or {},
        )


class Bucket:
    """One bucket: put, get, stat and remove objects, each call on a worker thread."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        region: str,
        name: str,
        *,
        threads: int | None = None,
    ) -> None:
        self.client = client(endpoint, access_key, secret_key, region)
        self.name = name
        self._threads = (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3") if threads is not None else None
        )

    async def blocking(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call` on a worker thread, in the caller's context (as asyncio.to_thread)."""
        if self._threads is None:
            return await asyncio.to_thread(call, *args, **kwargs)
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, partial(context.run, call, *args, **kwargs)
        )

    async def ensure(self, *, object_lock: bool = False) -> bool:
        """Create the bucket if missing; True when this call created it. With `object_lock`,
        one that was already there must have it (BucketError otherwise)."""

        def ensure() -> bool:
            created = make_bucket(self.client, self.name, object_lock=object_lock)
            if object_lock and not created:
                require_object_lock(self.client, self.name)
            return created

        return await self.blocking(ensure)

    async def put(
        self,
        key: str,
        content: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        retain_until: datetime | None = None,
    ) -> None:
        """Store `content` under `key`; with `retain_until`, locked in compliance mode until
        then: no one, not even the bucket's owner, can delete or shorten it before."""
        await self.blocking(
            self.client.put_object,
            self.name,
            key,
            io.BytesIO(content),
            len(content),
            content_type=content_type,
            metadata=dict(metadata) if metadata else None,
            retention=Retention(COMPLIANCE, retain_until) if retain_until is not None else None,
        )

    async def get(self, key: str) -> bytes:
        def fetch() -> bytes:
            response = self.client.get_object(self.name, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await self.blocking(fetch)

    async def retained(self, key: str) -> Retained | None:
        """The current version of `key` and its object lock; None when there is none."""

        def read() -> Retained | None:
            try:
                stat = self.client.stat_object(self.name, key)
            except S3Error as exc:
                if exc.code in NOT_FOUND:
                    return None
                raise
            response = self.client.get_object(self.name, key, version_id=stat.version_id)
            try:
                content = response.read()
            finally:
                response.close()
                response.release_conn()
            retention = self.client.get_object_retention(self.name, key, version_id=stat.version_id)
            if retention is None:
                return Retained(content, None, None)
            return Retained(content, retention.mode, retention.retain_until_date)

        return await self.blocking(read)

    async def exists(self, key: str) -> bool:
        def stat() -> bool:
            try:
                self.client.stat_object(self.name, key)
            except S3Error as exc:
                if exc.code in NOT_FOUND:
                    return False
                raise
            return True

        return await self.blocking(stat)

    async def keys(self, prefix: str) -> list[str]:
        """Every key under `prefix`."""

        def listing() -> list[str]:
            return [o.object_name for o in self.client.list_objects(self.name, prefix=prefix, recursive=True)]

        return await self.blocking(listing)

    async def remove(self, key: str) -> None:
        # S3 answers a delete of a missing key with success: sweeping twice is harmless.
        await self.blocking(self.client.remove_object, self.name, key)
