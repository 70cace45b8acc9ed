"""Wires the pickup service: its handlers on the bus, the unclaimed sweeper and its site."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from lre_shared.bus import Bus
from lre_shared.messages import (
    CodeFailed,
    LetterDeposited,
    LiftLetterLock,
    NoticeFailed,
    NoticeSent,
    VerificationDecided,
    now_utc,
)
from lre_shared.rules import PROFILES
from lre_shared.runtime import PeriodicTask, ServiceRuntime
from lre_shared.topology import Service
from pickup.service_layer import handlers, locks, signature, unclaimed
from pickup.service_layer.unclaimed import Clock
from pickup.settings import PickupSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: PickupSettings, clock: Clock = now_utc) -> ServiceRuntime:
    rules = PROFILES[settings.rules_profile]
    bus = Bus(settings, Service.pickup)
    bus.subscribe(LetterDeposited, partial(handlers.on_letter_deposited, rules=rules))
    bus.subscribe(NoticeSent, partial(handlers.on_notice_sent, rules=rules))
    bus.subscribe(NoticeFailed, handlers.on_notice_failed)
    bus.subscribe(VerificationDecided, signature.on_verification_decided)
    # A code the notifier could not send: the code entry page offers another channel.
    bus.subscribe(CodeFailed, signature.on_code_failed)
    # A supervisor of the verification desk lifts a letter's holds (pickup.domain.locks).
    bus.subscribe(LiftLetterLock, partial(locks.on_lift_letter_lock, clock=clock))
    sweeper = PeriodicTask(
        "unclaimed-sweeper",
        partial(unclaimed.sweep, rules=rules, clock=clock),
        settings.unclaimed_sweep_seconds,
    )
    return ServiceRuntime(
        bus=bus, migrations=MIGRATIONS, on_started=[sweeper.start], on_stopping=[sweeper.stop]
    )
