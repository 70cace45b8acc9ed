"""Wires the verification desk: its bus handlers, its document vault, its inbound SMTP
server and MMS webhook, the desk API and the retention sweeper."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from starlette.applications import Starlette
from starlette.routing import Route

from lre_shared import objects, units
from lre_shared.bus import Bus, Transaction
from lre_shared.clock import Clock, now_utc
from lre_shared.contracts import (
    AddIdentityDocument,
    CheckCode,
    IdentifyWithProvider,
    OpenVerificationCase,
    RequestCode,
)
from lre_shared.oidc import RelyingParty
from lre_shared.runtime import PeriodicTask, ServiceRuntime
from lre_shared.topology import Service
from verification.adapters import agents, decision_times, gauges
from verification.adapters.agents import TokenVerifier
from verification.adapters.desk_sessions import PgSessionStore
from verification.adapters.media import MediaFetcher, TwilioMedia
from verification.adapters.oidc import OidcProvider
from verification.adapters.postgres import unit_of_work, units_of_work
from verification.adapters.vault import S3DocumentVault, Sealer, derive_key
from verification.entrypoints.desk import desk_site
from verification.entrypoints.desk_session import CALLBACK, CONSOLE
from verification.entrypoints.desk_web import DeskParts
from verification.entrypoints.mail import InboundMailHandler, InboundSmtpServer, server_tls
from verification.entrypoints.mms import TWILIO_MMS_PATH, mms_webhook
from verification.service_layer import cases, codes, handlers, provider_identity, retention
from verification.service_layer.desk_sessions import ConsoleSignIn
from verification.service_layer.ports import UnitOfWork
from verification.settings import VerificationSettings

MIGRATIONS = Path(__file__).parent / "migrations"
R = TypeVar("R")


def in_unit_of_work(
    handler: Callable[[Any, UnitOfWork], Awaitable[R]],
) -> Callable[[Any, Transaction], Awaitable[R]]:
    """A use case as the bus calls it: inside the unit of work over the message's transaction."""
    return units.in_unit_of_work(unit_of_work, handler)


@dataclass
class Desk:
    """The running desk: its runtime and the parts its HTTP routes and tests reach."""

    runtime: ServiceRuntime
    settings: VerificationSettings
    vault: S3DocumentVault
    api: DeskParts
    sweeper: PeriodicTask
    smtp: InboundSmtpServer | None
    media: MediaFetcher | None

    def site(self) -> Starlette:
        webhook = mms_webhook(
            self.api.transactions,
            self.vault,
            self.media,
            own_url=self.settings.own_url,
            auth_token=_secret(self.settings.twilio_auth_token),
            max_bytes=self.settings.max_document_bytes,
            clock=self.api.clock,
        )
        return desk_site(self.api, Route(TWILIO_MMS_PATH, webhook, methods=["POST"]))


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else None


def console_sign_in(
    settings: VerificationSettings, verifier: TokenVerifier, pool: Callable[[], asyncpg.Pool], clock: Clock
) -> ConsoleSignIn | None:
    """The console's sign-in with the identity provider, if its client is configured."""
    client_id, secret = settings.desk_console_client_id, settings.desk_console_client_secret
    if client_id is None or secret is None:
        return None
    own = (settings.desk_console_url or settings.own_url).rstrip("/")
    # ID tokens under the rules of the API's bearer tokens: their algorithms, their clock skew.
    party = RelyingParty(
        issuer=settings.oidc_issuer,
        client_id=client_id,
        client_secret=secret.get_secret_value(),
        algorithms=agents.ALGORITHMS,
        leeway=agents.CLOCK_SKEW_SECONDS,
        timeout=10.0,
    )
    provider = OidcProvider(
        party,
        redirect_uri=own + CALLBACK,
        signed_out_uri=own + CONSOLE,
        scope=settings.desk_console_scope,
        resource=settings.desk_console_resource,
    )

    def check_access(token: str) -> tuple[dict[str, Any], set[str]]:
        # The API's own check of a bearer token: a session grants no more than the token would.
        claims = verifier.verify(token)
        return claims, verifier.roles(claims)

    return ConsoleSignIn(
        PgSessionStore(pool),
        provider,
        check_access,
        clock,
        lifetime=timedelta(hours=settings.desk_session_hours),
        idle=timedelta(minutes=settings.desk_session_idle_minutes),
    )


def build(settings: VerificationSettings, clock: Clock = now_utc, media: MediaFetcher | None = None) -> Desk:
    document_key = settings.document_key.get_secret_value()
    store = objects.Store(
        settings.s3_endpoint,
        settings.s3_access_key.get_secret_value(),
        settings.s3_secret_key.get_secret_value(),
        settings.s3_region,
    )
    vault = S3DocumentVault(store, settings.identity_bucket, Sealer(document_key))
    if media is None and settings.twilio_account_sid and settings.twilio_auth_token:
        media = TwilioMedia(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
    bus = Bus(settings, Service.verification)
    for event, on_event in handlers.EVENTS:
        bus.subscribe(event, in_unit_of_work(on_event))
    # Request/reply queries that change state stay idempotent: a redelivered one changes nothing twice.
    bus.subscribe(
        OpenVerificationCase,
        in_unit_of_work(partial(cases.open_case, settings=settings, clock=clock)),
        idempotent=True,
    )
    # The recipient proved who they are through an identity provider (CPCE R.53-1).
    bus.subscribe(
        IdentifyWithProvider,
        in_unit_of_work(partial(provider_identity.identify_with_provider, settings=settings, clock=clock)),
        idempotent=True,
    )
    bus.subscribe(
        AddIdentityDocument,
        in_unit_of_work(partial(cases.add_identity_document, vault=vault, settings=settings, clock=clock)),
        idempotent=True,
    )
    # One-time codes: both queries change state (a new code; a code spent or a try counted).
    for query, answer in ((RequestCode, codes.request_code), (CheckCode, codes.check_code)):
        bus.subscribe(
            query, in_unit_of_work(partial(answer, settings=settings, clock=clock)), idempotent=True
        )
    runtime = ServiceRuntime(bus=bus, migrations=MIGRATIONS)

    def pool() -> asyncpg.Pool:
        return runtime.pool

    transactions = units_of_work(pool)

    verifier = TokenVerifier(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        roles_claim=settings.oidc_roles_claim,
        jwks_url=settings.oidc_jwks_url,
        jwks_file=settings.oidc_jwks_file,
    )
    # The desk's own units of work time each agent's decision once it has committed.
    api = DeskParts(
        decision_times.units_of_work(pool),
        vault,
        verifier,
        settings,
        clock,
        derive_key(document_key, b"links"),
        console_sign_in(settings, verifier, pool, clock),
    )
    sweeper = PeriodicTask(
        "identity document and recipient sweeper",
        retention.sweeper(
            transactions,
            vault,
            timedelta(days=settings.document_retention_days),
            timedelta(days=settings.document_longest_days),
            clock,
            # A letter needs the desk no longer than its content may live (CPCE R.53-3).
            content_life=settings.rules().longest_content_life(),
        ),
        settings.document_sweep_seconds,
    )
    gauges_task = PeriodicTask("desk queue gauges", lambda pool: gauges.measure(pool, clock()), 15.0)
    smtp = None
    if settings.inbound_smtp_port is not None:
        handler = InboundMailHandler(
            transactions,
            vault,
            address=settings.inbound_email,
            max_bytes=settings.max_document_bytes,
            fax_senders=frozenset(s.casefold() for s in settings.inbound_fax_senders),
            clock=clock,
        )
        # Room for a few documents in base64 (4/3) plus the text of the message.
        limit = settings.max_document_bytes * 4 // 3 * 5 + 1_000_000
        cert, key = settings.inbound_smtp_tls_cert, settings.inbound_smtp_tls_key
        smtp = InboundSmtpServer(
            handler,
            settings.inbound_smtp_host,
            settings.inbound_smtp_port,
            limit,
            tls=server_tls(cert, key) if cert is not None and key is not None else None,
            require_tls=settings.inbound_smtp_require_tls,
        )

    async def started(pool: asyncpg.Pool) -> None:
        await vault.ensure_bucket()
        await sweeper.start(pool)
        await gauges_task.start(pool)
        if smtp is not None:
            await smtp.start()

    async def stopping() -> None:
        if smtp is not None:
            await smtp.stop()
        await sweeper.stop()
        await gauges_task.stop()

    runtime.on_started = [started]
    runtime.on_stopping = [stopping]
    return Desk(runtime, settings, vault, api, sweeper, smtp, media)
