"""Wires the archive's adapters into its handlers and its handlers into the bus."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from pathlib import Path

import asyncpg

from archive.adapters.storage import BucketPlan, ContentStore, S3Buckets, S3ContentStore
from archive.domain.expiry import Clock, RetentionPolicy, SystemClock
from archive.domain.submission import Limits
from archive.service_layer import expiry, handlers
from archive.settings import ArchiveSettings
from lre_shared.bus import Bus
from lre_shared.messages import IssueDownloadLink, LetterAccepted, NoticeSent, SubmitLetter
from lre_shared.runtime import PeriodicTask, ServiceRuntime
from lre_shared.topology import Service

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)


def bootstrap(
    settings: ArchiveSettings, store: ContentStore | None = None, clock: Clock | None = None
) -> ServiceRuntime:
    clock = clock or SystemClock()
    content = store or S3ContentStore(
        settings.s3_endpoint,
        settings.s3_public_endpoint,
        settings.s3_access_key.get_secret_value(),
        settings.s3_secret_key.get_secret_value(),
        settings.s3_region,
        settings.content_bucket,
    )
    bus = Bus(settings, Service.archive)
    limits = Limits(
        document_bytes=settings.max_document_bytes,
        letter_bytes=settings.max_letter_bytes,
        embedded_bytes=settings.max_embedded_bytes,
        attachments=settings.max_attachments,
    )
    if settings.senders is None:
        log.warning("any sender id may deposit: set ARCHIVE_SENDERS to the allowed ones in production")
    bus.subscribe(
        SubmitLetter,
        partial(handlers.submit_letter, store=content, limits=limits, senders=settings.senders),
    )
    bus.subscribe(
        IssueDownloadLink,
        partial(
            handlers.issue_download_link,
            store=content,
            lifetime=timedelta(seconds=settings.download_link_seconds),
            clock=clock,
        ),
        idempotent=False,
    )
    policy = retention_policy(settings)
    bus.subscribe(NoticeSent, partial(expiry.on_notice_sent, policy=policy))
    bus.subscribe(LetterAccepted, expiry.on_letter_accepted)
    sweeper = PeriodicTask(
        "archive-sweeper",
        partial(expiry.sweep, store=content, clock=clock, policy=policy),
        settings.sweep_seconds,
    )

    buckets = S3Buckets(
        settings.s3_endpoint,
        settings.s3_access_key.get_secret_value(),
        settings.s3_secret_key.get_secret_value(),
        settings.s3_region,
    )

    async def ensure_buckets(_: asyncpg.Pool) -> None:
        await buckets.ensure(bucket_plan(settings))

    return ServiceRuntime(
        bus=bus,
        migrations=MIGRATIONS,
        on_started=[ensure_buckets, sweeper.start],
        on_stopping=[sweeper.stop],
    )


def retention_policy(settings: ArchiveSettings) -> RetentionPolicy:
    return RetentionPolicy(
        download=timedelta(hours=settings.download_hours),
        unaccepted_grace=timedelta(hours=settings.unaccepted_grace_hours),
    )


def bucket_plan(settings: ArchiveSettings) -> BucketPlan:
    return BucketPlan(
        content=settings.content_bucket,
        content_expiry_days=settings.content_expiry_days,
        evidence=settings.evidence_bucket,
        evidence_retention_days=settings.evidence_retention_days,
        identity=settings.identity_bucket,
    )
