"""Wires the pickup service: its handlers on the bus, its sweeper (unclaimed letters, signed
ARs kept for another check too long) and the recipients' identity provider of its site."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import asyncpg

from lre_shared.bus import Bus
from lre_shared.clock import Clock, now_utc
from lre_shared.contracts import (
    CodeFailed,
    LetterDeposited,
    LiftLetterLock,
    NoticeFailed,
    NoticeSent,
    VerificationDecided,
)
from lre_shared.oidc import RelyingParty
from lre_shared.runtime import PeriodicTask, ServiceRuntime
from lre_shared.topology import Service
from pickup.adapters import oidc
from pickup.adapters.oidc import OidcProvider
from pickup.adapters.postgres import in_unit_of_work, storage_on
from pickup.service_layer import handlers, locks, signature, unclaimed
from pickup.settings import PickupSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: PickupSettings, clock: Clock = now_utc) -> ServiceRuntime:
    rules = settings.rules()
    bus = Bus(settings, Service.pickup)
    bus.subscribe(LetterDeposited, in_unit_of_work(partial(handlers.on_letter_deposited, rules=rules)))
    bus.subscribe(NoticeSent, in_unit_of_work(partial(handlers.on_notice_sent, rules=rules)))
    bus.subscribe(NoticeFailed, in_unit_of_work(handlers.on_notice_failed))
    bus.subscribe(VerificationDecided, in_unit_of_work(signature.on_verification_decided))
    # A code the notifier could not send: the code entry page offers another channel.
    bus.subscribe(CodeFailed, in_unit_of_work(signature.on_code_failed))
    # A supervisor of the verification desk lifts a letter's holds (pickup.domain.locks).
    bus.subscribe(LiftLetterLock, in_unit_of_work(partial(locks.on_lift_letter_lock, clock=clock)))

    async def sweep(pool: asyncpg.Pool) -> None:
        storage = storage_on(pool)
        await signature.forget_receipts_in_check(storage, clock())
        await unclaimed.sweep(storage, rules=rules, clock=clock)

    sweeper = PeriodicTask("pickup-sweeper", sweep, settings.unclaimed_sweep_seconds)
    return ServiceRuntime(
        bus=bus, migrations=MIGRATIONS, on_started=[sweeper.start], on_stopping=[sweeper.stop]
    )


def recipients_provider(settings: PickupSettings) -> OidcProvider | None:
    """The recipients' identity provider (CPCE R.53-1), when the settings name one."""
    issuer, client_id, secret = (
        settings.identity_provider_issuer,
        settings.identity_provider_client_id,
        settings.identity_provider_client_secret,
    )
    if not (issuer and client_id and secret):
        return None
    party = RelyingParty(
        issuer=issuer.rstrip("/"),
        client_id=client_id,
        client_secret=secret.get_secret_value(),
        algorithms=oidc.ALGORITHMS,
        leeway=oidc.CLOCK_SKEW_SECONDS,
        timeout=settings.request_timeout_seconds,
    )
    return OidcProvider(
        party, scopes=settings.identity_provider_scopes, acr_values=settings.identity_provider_acr_values
    )
