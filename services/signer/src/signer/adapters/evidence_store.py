"""The evidence bucket: records and seals under S3 object lock, compliance mode.

Compliance mode: no one, not even the bucket's owner, can delete or shorten the retention
of a stored version before its date (DESIGN §3: at least one year). A bucket that exists
without object lock is refused at start: evidence must not go where it can be erased.
The minio client is synchronous: every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.retention import Retention

from signer.domain.archived import ArchivedCopy


class EvidenceBucketError(RuntimeError):
    """The evidence bucket cannot keep evidence safely: the service must not start."""


class EvidenceStore(Protocol):
    async def ensure_bucket(self) -> None: ...
    async def put(self, key: str, content: bytes, *, content_type: str, retain_until: datetime) -> None: ...


class ArchivedEvidence(Protocol):
    """Reading the bucket back, for `lre verify --evidence-bucket`."""

    async def archived(self, key: str) -> ArchivedCopy | None: ...


class S3EvidenceStore:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str, bucket: str) -> None:
        parts = urlsplit(endpoint)
        self._client = Minio(
            parts.netloc,
            access_key=access_key,
            secret_key=secret_key,
            secure=parts.scheme == "https",
            region=region,
        )
        self._bucket = bucket

    async def ensure_bucket(self) -> None:
        def ensure() -> None:
            if not self._client.bucket_exists(self._bucket):
                try:
                    self._client.make_bucket(self._bucket, object_lock=True)
                    return
                except S3Error as e:
                    # The archive service creates it too, at the same start: the first one wins,
                    # the other checks the lock below.
                    if e.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                        raise
            try:
                self._client.get_object_lock_config(self._bucket)
            except S3Error as e:
                raise EvidenceBucketError(
                    f"bucket {self._bucket} exists without object lock: evidence could be deleted;"
                    " use a bucket created with object lock (compliance mode)"
                ) from e

        await asyncio.to_thread(ensure)

    async def put(self, key: str, content: bytes, *, content_type: str, retain_until: datetime) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            self._bucket,
            key,
            io.BytesIO(content),
            len(content),
            content_type=content_type,
            retention=Retention(COMPLIANCE, retain_until),
        )

    async def archived(self, key: str) -> ArchivedCopy | None:
        def read() -> ArchivedCopy | None:
            try:
                stat = self._client.stat_object(self._bucket, key)
            except S3Error as e:
                if e.code in {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}:
                    return None
                raise
            response = self._client.get_object(self._bucket, key, version_id=stat.version_id)
            try:
                content = response.read()
            finally:
                response.close()
                response.release_conn()
            retention = self._client.get_object_retention(self._bucket, key, version_id=stat.version_id)
            if retention is None:
                return ArchivedCopy(content, None, None)
            return ArchivedCopy(content, retention.mode, retention.retain_until_date)

        return await asyncio.to_thread(read)
