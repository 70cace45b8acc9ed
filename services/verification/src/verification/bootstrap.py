"""Wires the verification desk's handlers into the bus."""

from __future__ import annotations

from pathlib import Path

from lre_shared.bus import Bus
from lre_shared.messages import LetterDeposited
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service
from verification.service_layer import handlers
from verification.settings import VerificationSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: VerificationSettings) -> ServiceRuntime:
    bus = Bus(settings, Service.verification)
    bus.subscribe(LetterDeposited, handlers.on_letter_deposited)
    return ServiceRuntime(bus=bus, migrations=MIGRATIONS)
