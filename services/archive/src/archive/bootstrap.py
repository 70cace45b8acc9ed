"""Wires the archive's adapters into its handlers and its handlers into the bus."""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from functools import partial
from pathlib import Path

import asyncpg
from starlette.applications import Starlette

from archive.adapters.storage import BucketPlan, S3Buckets, S3ContentStore
from archive.domain.expiry import Clock, RetentionPolicy, SystemClock
from archive.domain.links import Links
from archive.domain.submission import Limits
from archive.entrypoints.http import create_site
from archive.service_layer import expiry, handlers
from archive.service_layer.status import get_letter_status
from archive.service_layer.uploads import UploadPolicy, request_upload, sweep_uploads
from archive.service_layer.zip import issue_zip_link, on_proof_issued
from archive.settings import ArchiveSettings
from lre_shared.bus import Bus
from lre_shared.messages import (
    GetLetterStatus,
    IssueDownloadLink,
    IssueZipLink,
    LetterAccepted,
    LetterRefused,
    LetterUnclaimed,
    NoticeSent,
    ProofIssued,
    ReceiptSigned,
    RequestUpload,
    SubmitLetter,
)
from lre_shared.rules import FR_LRE
from lre_shared.runtime import PeriodicTask, ServiceRuntime
from lre_shared.topology import Service

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)


def bootstrap(
    settings: ArchiveSettings, store: S3ContentStore | None = None, clock: Clock | None = None
) -> ServiceRuntime:
    clock = clock or SystemClock()
    content = store or content_store(settings)
    bus = Bus(settings, Service.archive)
    limits = deposit_limits(settings)
    uploads = upload_policy(settings)
    if settings.senders is None:
        log.warning("any sender id may deposit: set ARCHIVE_SENDERS to the allowed ones in production")
    bus.subscribe(
        SubmitLetter,
        partial(
            handlers.submit_letter,
            store=content,
            limits=limits,
            senders=settings.senders,
            uploads=content,
            clock=clock,
        ),
        refuse=handlers.refuse_malformed_deposit,
    )
    # A grant writes its upload row: idempotent, like every query that changes state.
    bus.subscribe(
        RequestUpload,
        partial(
            request_upload,
            store=content,
            limits=limits,
            senders=settings.senders,
            policy=uploads,
            clock=clock,
        ),
    )
    bus.subscribe(
        IssueDownloadLink,
        partial(
            handlers.issue_download_link,
            links=download_links(settings),
            clock=clock,
        ),
        idempotent=False,
    )
    bus.subscribe(
        IssueZipLink, partial(issue_zip_link, links=download_links(settings), clock=clock), idempotent=False
    )
    bus.subscribe(GetLetterStatus, get_letter_status, idempotent=False)
    bus.subscribe(ProofIssued, partial(on_proof_issued, store=content))
    policy = retention_policy(settings)
    bus.subscribe(NoticeSent, partial(expiry.on_notice_sent, policy=policy))
    bus.subscribe(LetterAccepted, partial(expiry.on_letter_accepted, policy=policy))
    bus.subscribe(LetterRefused, expiry.on_letter_refused)
    bus.subscribe(ReceiptSigned, partial(expiry.on_receipt_signed, policy=policy))
    bus.subscribe(LetterUnclaimed, partial(expiry.on_letter_unclaimed, policy=policy))

    async def reschedule_content(pool: asyncpg.Pool) -> None:
        await expiry.reschedule_all(pool, policy=policy)

    async def sweep_everything(pool: asyncpg.Pool) -> None:
        await expiry.sweep(pool, store=content, clock=clock)
        await sweep_uploads(pool, store=content, clock=clock)

    sweeper = PeriodicTask("archive-sweeper", sweep_everything, settings.sweep_seconds)

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
        on_started=[ensure_buckets, reschedule_content, sweeper.start],
        on_stopping=[sweeper.stop],
    )


def http_site(
    runtime: ServiceRuntime,
    settings: ArchiveSettings,
    store: S3ContentStore | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """POST /uploads for sender systems; a letter's documents and zip for the pickup site."""
    content = store or content_store(settings)
    return create_site(
        lambda: runtime.pool,
        store=content,
        uploads=content,
        limits=deposit_limits(settings),
        senders=settings.senders,
        tokens={sender: token.get_secret_value() for sender, token in settings.sender_tokens.items()},
        upload_policy=upload_policy(settings),
        links=download_links(settings),
        clock=clock or SystemClock(),
    )


def content_store(settings: ArchiveSettings) -> S3ContentStore:
    return S3ContentStore(
        settings.s3_endpoint,
        settings.s3_public_endpoint,
        settings.s3_access_key.get_secret_value(),
        settings.s3_secret_key.get_secret_value(),
        settings.s3_region,
        settings.content_bucket,
        threads=settings.s3_threads,
    )


def deposit_limits(settings: ArchiveSettings) -> Limits:
    return Limits(
        document_bytes=settings.max_document_bytes,
        letter_bytes=settings.max_letter_bytes,
        embedded_bytes=settings.max_embedded_bytes,
        attachments=settings.max_attachments,
    )


def upload_policy(settings: ArchiveSettings) -> UploadPolicy:
    return UploadPolicy(
        url_lifetime=timedelta(seconds=settings.upload_url_seconds),
        keep=timedelta(hours=settings.upload_keep_hours),
    )


def download_links(settings: ArchiveSettings) -> Links:
    return Links(
        key=settings.zip_link_key.get_secret_value().encode(),
        base_url=settings.own_url or f"http://127.0.0.1:{settings.http_port}",
        document_lifetime=timedelta(seconds=settings.download_link_seconds),
        zip_lifetime=timedelta(seconds=settings.zip_link_seconds),
        envelope_wait=timedelta(seconds=settings.zip_envelope_wait_seconds),
    )


def retention_policy(settings: ArchiveSettings) -> RetentionPolicy:
    return RetentionPolicy.of(
        FR_LRE, download_hours=settings.download_hours, grace_hours=settings.unaccepted_grace_hours
    )


def longest_content_days(settings: ArchiveSettings) -> int:
    """Days the content may be kept after the first notice under the rule, and one more for
    a notice that left a while after the deposit (the lifecycle counts from the deposit)."""
    life = retention_policy(settings).rules.longest_content_life()
    return math.ceil(life / timedelta(days=1)) + 1


def bucket_plan(settings: ArchiveSettings) -> BucketPlan:
    return BucketPlan(
        content=settings.content_bucket,
        # A backstop: never before the sweeper, whatever the setting says.
        content_expiry_days=max(settings.content_expiry_days, longest_content_days(settings)),
        evidence=settings.evidence_bucket,
        evidence_retention_days=settings.evidence_retention_days,
        identity=settings.identity_bucket,
    )
