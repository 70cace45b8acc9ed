"""Wires the verification desk's handlers into the bus."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from lre_shared.bus import Bus
from lre_shared.messages import CheckCode, LetterDeposited, RequestCode, now_utc
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service
from verification.service_layer import codes, handlers
from verification.settings import VerificationSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: VerificationSettings) -> ServiceRuntime:
    bus = Bus(settings, Service.verification)
    bus.subscribe(LetterDeposited, handlers.on_letter_deposited)
    # One-time codes: both queries change state (a new code; a code spent or a try counted).
    bus.subscribe(RequestCode, partial(codes.request_code, settings=settings, clock=now_utc), idempotent=True)
    bus.subscribe(CheckCode, partial(codes.check_code, settings=settings, clock=now_utc), idempotent=True)
    return ServiceRuntime(bus=bus, migrations=MIGRATIONS)
