"""The evidence bucket: records and seals under S3 object lock, compliance mode.

Compliance mode: no one, not even the bucket's owner, can delete or shorten the retention
of a stored version before its date (DESIGN §3: at least one year). A bucket that exists
without object lock is refused at start: evidence must not go where it can be erased.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from lre_shared import objects
from signer.domain.archived import ArchivedCopy

# The evidence bucket cannot keep evidence safely: the service must not start.
EvidenceBucketError = objects.BucketError


class EvidenceStore(Protocol):
    async def ensure_bucket(self) -> None: ...
    async def put(self, key: str, content: bytes, *, content_type: str, retain_until: datetime) -> None: ...


class ArchivedEvidence(Protocol):
    """Reading the bucket back, for `lre verify --evidence-bucket`."""

    async def archived(self, key: str) -> ArchivedCopy | None: ...


class S3EvidenceStore:
    def __init__(self, store: objects.Store, bucket: str) -> None:
        self._bucket = store.bucket(bucket)

    async def ensure_bucket(self) -> None:
        # The archive service creates it too, at the same start: the first one wins, the
        # other checks the lock.
        await self._bucket.ensure(object_lock=True)

    async def put(self, key: str, content: bytes, *, content_type: str, retain_until: datetime) -> None:
        await self._bucket.put(key, content, content_type=content_type, retain_until=retain_until)

    async def archived(self, key: str) -> ArchivedCopy | None:
        kept = await self._bucket.retained(key)
        return None if kept is None else ArchivedCopy(kept.content, kept.mode, kept.retain_until)
