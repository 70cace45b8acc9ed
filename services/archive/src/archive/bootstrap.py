"""Wires the archive's adapters into its handlers and its handlers into the bus."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import asyncpg
from starlette.applications import Starlette

from archive.adapters.api_keys import PgApiKeys, PgAuthFailures
from archive.adapters.postgres import unit_of_work, units_of_work
from archive.adapters.storage import BucketPlan, S3Buckets, S3ContentStore
from archive.adapters.webhook_secrets import SecretBox
from archive.adapters.webhooks import DnsResolver, HttpPoster, PgWebhooks, webhook_units
from archive.domain.api_keys import FailureLimit
from archive.domain.expiry import RetentionPolicy
from archive.domain.links import Links
from archive.domain.submission import Limits
from archive.domain.webhooks import RetrySchedule, UrlPolicy
from archive.entrypoints.http import create_site
from archive.entrypoints.senders_http import KeyCheck
from archive.entrypoints.webhook_dispatch import WebhookDispatcher
from archive.service_layer import consents, expiry, handlers, identity, webhooks
from archive.service_layer.ports import UnitOfWork
from archive.service_layer.sender_events import tell_sender, telling
from archive.service_layer.uploads import UploadDesk, UploadPolicy, sweep_uploads
from archive.service_layer.zip import issue_zip_link, on_proof_issued
from archive.settings import ArchiveSettings
from lre_shared import objects, units
from lre_shared.bus import Bus, Fault, Transaction, acts_for, ask, broker_user
from lre_shared.clock import Clock, now_utc
from lre_shared.contracts import (
    GetLetterStatus,
    IssueDownloadLink,
    IssueZipLink,
    LetterAccepted,
    LetterRefused,
    LetterUnclaimed,
    Message,
    NoticeFailed,
    NoticeSent,
    ProofIssued,
    ReceiptSigned,
    RecordConsent,
    RequestUpload,
    SenderEvent,
    SubmitLetter,
    WithdrawConsent,
)
from lre_shared.runtime import PeriodicTask, ServiceRuntime
from lre_shared.topology import Service

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
R = TypeVar("R", bound=Message | None)
A = TypeVar("A", bound=Message)


def in_unit_of_work(
    use_case: Callable[[M, UnitOfWork], Awaitable[R]],
) -> Callable[[M, Transaction], Awaitable[R]]:
    """A use case as the bus calls it: on the message's transaction, as the archive's unit of work."""
    return units.in_unit_of_work(unit_of_work, use_case)


async def refuse_malformed_deposit(
    body: bytes, faults: tuple[Fault, ...], tx: Transaction, *, trusted: Collection[str]
) -> bool:
    return await identity.refuse_malformed_as_publisher(body, faults, unit_of_work(tx), trusted=trusted)


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

    # Who speaks for a sender is the broker's word (`identity`): a deposit, an upload or a
    # status only for the sender the publisher acts for.
    trusted = settings.trusted_publishers
    deposit = partial(
        identity.deposit_as_publisher,
        trusted=trusted,
        deposit=partial(
            handlers.submit_letter,
            store=content,
            limits=limits,
            senders=settings.senders,
            uploads=content,
            clock=clock,
            consent_required=settings.rules().consumer_consent_required,
        ),
    )
    bus.subscribe(
        SubmitLetter, in_unit_of_work(deposit), refuse=partial(refuse_malformed_deposit, trusted=trusted)
    )
    # A grant writes its upload row: idempotent, like every query that changes state.
    subscribe(
        RequestUpload,
        partial(identity.upload_for_publisher, trusted=trusted, desk=upload_desk(settings, content, clock)),
    )
    # The consent registry (CPCE L.100): a sender records only for itself, as the broker says.
    may_act = partial(acts_for, trusted=settings.trusted_publishers)
    for consent_command, consent_case in (
        (RecordConsent, consents.record_consent),
        (WithdrawConsent, consents.withdraw_consent),
    ):
        subscribe(
            consent_command, partial(consent_case, may_act=may_act, senders=settings.senders, clock=clock)
        )
    links = download_links(settings)
    subscribe(
        IssueDownloadLink, partial(handlers.issue_download_link, links=links, clock=clock), idempotent=False
    )
    subscribe(IssueZipLink, partial(issue_zip_link, links=links, clock=clock), idempotent=False)
    subscribe(GetLetterStatus, partial(identity.status_for_publisher, trusted=trusted), idempotent=False)
    # Each fact of a letter's life is told to its sender (`lre.senders.events`) in the unit of
    # work that handles it (`sender_events`); the archive's own events are told where published.
    subscribe(ProofIssued, telling(partial(on_proof_issued, store=content)))
    policy = retention_policy(settings)
    subscribe(NoticeSent, telling(partial(expiry.on_notice_sent, policy=policy)))
    subscribe(NoticeFailed, tell_sender)
    subscribe(LetterAccepted, telling(partial(expiry.on_letter_accepted, policy=policy)))
    subscribe(LetterRefused, telling(expiry.on_letter_refused))
    subscribe(ReceiptSigned, telling(partial(expiry.on_receipt_signed, policy=policy)))
    subscribe(LetterUnclaimed, telling(partial(expiry.on_letter_unclaimed, policy=policy)))

    async def reschedule_content(pool: asyncpg.Pool) -> None:
        await expiry.reschedule_all(units_of_work(lambda: pool), policy=policy)

    async def sweep_everything(pool: asyncpg.Pool) -> None:
        # The closed windows of failed API keys first: the database alone, whatever the store does.
        await PgAuthFailures(lambda: pool).forget(clock() - key_failure_limit(settings).window)
        units = units_of_work(lambda: pool)
        await expiry.sweep(units, store=content, clock=clock)
        await sweep_uploads(units, store=content, clock=clock)

    sweeper = PeriodicTask("archive-sweeper", sweep_everything, settings.sweep_seconds)
    box = webhook_secret_box(settings)
    dispatcher = webhook_dispatcher(bus, settings, box, clock)

    async def seal_webhook_secrets(pool: asyncpg.Pool) -> None:
        await webhooks.seal_legacy_secrets(units=webhook_units(lambda: pool, box))

    buckets = S3Buckets(object_store(settings))

    async def ensure_buckets(_: asyncpg.Pool) -> None:
        await buckets.ensure(bucket_plan(settings))

    return ServiceRuntime(
        bus=bus,
        migrations=MIGRATIONS,
        # Secrets first: a key that does not open them stops the start before anything else.
        on_started=[
            seal_webhook_secrets,
            ensure_buckets,
            reschedule_content,
            sweeper.start,
            dispatcher.start,
        ],
        on_stopping=[sweeper.stop, dispatcher.stop],
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
        keys=key_check(runtime, settings, clock),
        ask=partial(ask_as_archive, runtime, broker_user(settings.amqp_url.get_secret_value())),
        links=download_links(settings),
        clock=clock,
    )


async def ask_as_archive(
    runtime: ServiceRuntime, user: str, query: Message, answer: type[A], *, timeout: float
) -> A:
    """Request/reply with the archive's broker user as the AMQP `user_id` (which the broker
    checks): the signer believes a trusted publisher acting for the sender it names, so the
    archive names only the sender of an API key it has checked."""
    return await ask(runtime.bus.broker, query, answer, timeout=timeout, user_id=user)


def key_check(runtime: ServiceRuntime, settings: ArchiveSettings, clock: Clock) -> KeyCheck:
    """Sender systems' API keys, failures limited per client address (behind trusted proxies),
    counted in the database by every replica together."""
    return KeyCheck(
        keys=PgApiKeys(lambda: runtime.pool),
        limit=key_failure_limit(settings),
        proxies=settings.proxy_networks(),
        clock=clock,
        failures=PgAuthFailures(lambda: runtime.pool),
    )


def key_failure_limit(settings: ArchiveSettings) -> FailureLimit:
    return FailureLimit(settings.api_key_failures, timedelta(seconds=settings.api_key_failure_window_seconds))


def webhook_secret_box(settings: ArchiveSettings) -> SecretBox:
    """What encrypts the endpoints' signing secrets in the database."""
    return SecretBox(settings.webhook_secrets_key.get_secret_value())


def webhook_dispatcher(
    bus: Bus, settings: ArchiveSettings, box: SecretBox, clock: Clock
) -> WebhookDispatcher:
    """Webhooks: the archive's own queue on `lre.senders.events` (bound `#`: every sender)
    writes the deliveries, which the dispatcher sends."""

    async def take(event: SenderEvent, tx: Transaction) -> None:
        await webhooks.take_event(event, PgWebhooks(tx.conn, box), clock=clock)

    bus.subscribe(SenderEvent, take, binding="#")
    return WebhookDispatcher(
        webhook_poster(settings),
        box,
        webhooks.Dispatch(
            RetrySchedule(
                steps=tuple(timedelta(seconds=s) for s in settings.webhook_retry_seconds),
                every=timedelta(seconds=settings.webhook_retry_every_seconds),
                give_up_after=timedelta(hours=settings.webhook_give_up_hours),
            ),
            batch=settings.webhook_batch,
            lease=timedelta(seconds=settings.webhook_timeout_seconds + 30),
        ),
        settings.webhook_poll_seconds,
        clock,
    )


def webhook_url_policy(settings: ArchiveSettings) -> UrlPolicy:
    return UrlPolicy(allow_http=settings.webhook_allow_http, allow_private=settings.webhook_allow_private)


def webhook_poster(settings: ArchiveSettings) -> HttpPoster:
    return HttpPoster(webhook_url_policy(settings), DnsResolver(), settings.webhook_timeout_seconds)


def object_store(settings: ArchiveSettings) -> objects.Store:
    return objects.Store(
        settings.s3_endpoint,
        settings.s3_access_key.get_secret_value(),
        settings.s3_secret_key.get_secret_value(),
        settings.s3_region,
        public_endpoint=settings.s3_public_endpoint,
    )


def content_store(settings: ArchiveSettings) -> S3ContentStore:
    return S3ContentStore(object_store(settings), settings.content_bucket, threads=settings.s3_threads)


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
