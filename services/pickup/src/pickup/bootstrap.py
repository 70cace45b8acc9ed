"""Wires the pickup service: its handlers on the bus and its site."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from lre_shared.bus import Bus
from lre_shared.messages import LetterDeposited, NoticeFailed, NoticeSent
from lre_shared.rules import PROFILES
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service
from pickup.service_layer import handlers
from pickup.settings import PickupSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: PickupSettings) -> ServiceRuntime:
    rules = PROFILES[settings.rules_profile]
    bus = Bus(settings, Service.pickup)
    bus.subscribe(LetterDeposited, partial(handlers.on_letter_deposited, rules=rules))
    bus.subscribe(NoticeSent, partial(handlers.on_notice_sent, rules=rules))
    bus.subscribe(NoticeFailed, handlers.on_notice_failed)
    return ServiceRuntime(bus=bus, migrations=MIGRATIONS)
