"""Short-lived download links to proofs and evidence bundles, for sender systems.

A proof already copied to the evidence bucket is linked where it lies. A proof not copied yet
(the archiver copies within seconds) and every bundle (built on demand) go to the exports
bucket first: a bucket of its own, WITHOUT object lock, whose lifecycle rule deletes each
object a day after it was written. Exports must never go to the evidence bucket: its default
compliance-mode retention would keep every download for a year, undeletable.

Links are presigned for the S3 endpoint as sender systems reach it (the same public address
the archive presigns uploads for), and valid a few minutes.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import Expiration, LifecycleConfig
from minio.lifecycleconfig import Rule as LifecycleRule

from lre_shared import objects
from lre_shared.clock import Clock, now_utc
from signer.adapters.bundle import zip_bytes
from signer.domain.verification import Bundle
from signer.service_layer.ports import Link

EXPORTS_PREFIX = "exports/"
EXPORT_DAYS = 1  # S3 lifecycle rules count in days: the shortest they can say


class S3ProofLinks:
    def __init__(
        self,
        store: objects.Store,
        *,
        evidence_bucket: str,
        exports_bucket: str,
        lifetime: timedelta,
        clock: Clock = now_utc,
    ) -> None:
        self._exports = store.bucket(exports_bucket)
        self._store = store
        self._evidence_bucket = evidence_bucket
        self._lifetime = lifetime
        self._clock = clock

    async def ensure_bucket(self) -> None:
        """Create the exports bucket if missing, and (re)apply its expiry rule."""
        await self._exports.ensure()
        rule = LifecycleRule(
            ENABLED,
            rule_filter=Filter(prefix=EXPORTS_PREFIX),
            rule_id="exports-expiry",
            expiration=Expiration(days=EXPORT_DAYS),
        )
        await self._exports.blocking(
            self._exports.client.set_bucket_lifecycle, self._exports.name, LifecycleConfig([rule])
        )

    def _link(self, bucket: str, key: str) -> Link:
        issued_at = self._clock()
        url = self._store.link("GET", bucket, key, issued_at=issued_at, expires=self._lifetime)
        return Link(url, issued_at + self._lifetime)

    async def archived(self, key: str) -> Link:
        return self._link(self._evidence_bucket, key)

    def pack(self, bundle: Bundle) -> bytes:
        return zip_bytes(bundle)

    async def export(self, name: str, content: bytes, *, content_type: str) -> Link:
        # A fresh key each time: a link never serves bytes other than those it was issued for.
        key = f"{EXPORTS_PREFIX}{uuid.uuid4()}/{name}"
        await self._exports.put(key, content, content_type=content_type)
        return self._link(self._exports.name, key)
