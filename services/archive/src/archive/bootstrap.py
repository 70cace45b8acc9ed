"""Wires the archive's adapters into its handlers and its handlers into the bus."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import asyncpg
from starlette.applications import Starlette

from archive.adapters.postgres import unit_of_work, units_of_work
from archive.adapters.storage import BucketPlan, S3Buckets, S3ContentStore
from archive.domain.expiry import RetentionPolicy
from archive.domain.links import Links
from archive.domain.submission import Limits
from archive.entrypoints.http import create_site
from archive.service_layer import expiry, handlers
from archive.service_layer.ports import UnitOfWork
from archive.service_layer.status import get_letter_status
from archive.service_layer.uploads import UploadDesk, UploadPolicy, request_upload, sweep_uploads
from archive.service_layer.zip import issue_zip_link, on_proof_issued
from archive.settings import ArchiveSettings
from lre_shared import units
from lre_shared.bus import Bus, Fault, Transaction
from lre_shared.clock import Clock, now_utc
from lre_shared.contracts import (
    GetLetterStatus,
    IssueDownloadLink,
    IssueZipLink,
    LetterAccepted,
    LetterRefused,
    LetterUnclaimed,
    Message,
    NoticeSent,
    ProofIssued,
    ReceiptSigned,
    RequestUpload,
    SubmitLetter,
)
from lre_shared.runtime import PeriodicTask, ServiceRuntime
from lre_shared.topology import Service

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
R = TypeVar("R", bound=Message | None)


def in_unit_of_work(
    use_case: Callable[[M, UnitOfWork], Awaitable[R]],
) -> Callable[[M, Transaction], Awaitable[R]]:
    """A use case as the bus calls it: on the message's transaction, as the archive's unit of work."""
    return units.in_unit_of_work(unit_of_work, use_case)


async def refuse_malformed_deposit(body: bytes, faults: tuple[Fault, ...], tx: Transaction) -> bool:
    return await handlers.refuse_malformed_deposit(body, faults, unit_of_work(tx))


def bootstrap(
    settings: ArchiveSettings, store: S3ContentStore | None = None, clock: Clock = now_utc
) -> ServiceRuntime:
    content = store or content_store(settings)
    bus = Bus(settings, Service.archive)
    limits = deposit_limits(settings)
    if settings.senders is None:
        log.warning("any sender id may deposit: set ARCHIVE_SENDERS to the allowed ones in production")

    def subscribe(
        message_type: type[M],
        use_case: Callable[[M, UnitOfWork], Awaitable[Message | None]],
        *,
        idempotent: bool = True,
    ) -> None:
        bus.subscribe(message_type, in_unit_of_work(use_case), idempotent=idempotent)

    bus.subscribe(
        SubmitLetter,
        in_unit_of_work(
            partial(
                handlers.submit_letter,
                store=content,
                limits=limits,
                senders=settings.senders,
                uploads=content,
                clock=clock,
            )
        ),
        refuse=refuse_malformed_deposit,
    )
    # A grant writes its upload row: idempotent, like every query that changes state.
    subscribe(RequestUpload, partial(request_upload, desk=upload_desk(settings, content, clock)))
    links = download_links(settings)
    subscribe(
        IssueDownloadLink, partial(handlers.issue_download_link, links=links, clock=clock), idempotent=False
    )
    subscribe(IssueZipLink, partial(issue_zip_link, links=links, clock=clock), idempotent=False)
    subscribe(GetLetterStatus, get_letter_status, idempotent=False)
    subscribe(ProofIssued, partial(on_proof_issued, store=content))
    policy = retention_policy(settings)
    subscribe(NoticeSent, partial(expiry.on_notice_sent, policy=policy))
    subscribe(LetterAccepted, partial(expiry.on_letter_accepted, policy=policy))
    subscribe(LetterRefused, expiry.on_letter_refused)
    subscribe(ReceiptSigned, partial(expiry.on_receipt_signed, policy=policy))
    subscribe(LetterUnclaimed, partial(expiry.on_letter_unclaimed, policy=policy))

    async def reschedule_content(pool: asyncpg.Pool) -> None:
        await expiry.reschedule_all(units_of_work(lambda: pool), policy=policy)

    async def sweep_everything(pool: asyncpg.Pool) -> None:
        units = units_of_work(lambda: pool)
        await expiry.sweep(units, store=content, clock=clock)
        await sweep_uploads(units, store=content, clock=clock)

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
    clock: Clock = now_utc,
) -> Starlette:
    """POST /uploads for sender systems; a letter's documents and zip for the pickup site."""
    content = store or content_store(settings)
    return create_site(
        units_of_work(lambda: runtime.pool),
        store=content,
        desk=upload_desk(settings, content, clock),
        tokens={sender: token.get_secret_value() for sender, token in settings.sender_tokens.items()},
        links=download_links(settings),
        clock=clock,
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


def upload_desk(settings: ArchiveSettings, store: S3ContentStore, clock: Clock) -> UploadDesk:
    policy = UploadPolicy(
        url_lifetime=timedelta(seconds=settings.upload_url_seconds),
        keep=timedelta(hours=settings.upload_keep_hours),
    )
    return UploadDesk(store, deposit_limits(settings), settings.senders, policy, clock)


def download_links(settings: ArchiveSettings) -> Links:
    return Links(
        key=settings.zip_link_key.get_secret_value().encode(),
        base_url=settings.own_url or f"http://127.0.0.1:{settings.http_port}",
        document_lifetime=timedelta(seconds=settings.download_link_seconds),
        zip_lifetime=timedelta(seconds=settings.zip_link_seconds),
        envelope_wait=timedelta(seconds=settings.zip_envelope_wait_seconds),
    )


def retention_policy(settings: ArchiveSettings) -> RetentionPolicy:
    return RetentionPolicy(settings.rules())


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
        evidence_retention_days=settings.rules().evidence_retention_days,
        identity=settings.identity_bucket,
    )
