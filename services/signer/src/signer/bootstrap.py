"""Wires the signer's handlers into the bus."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from lre_shared.bus import Bus
from lre_shared.messages import (
    LetterAccepted,
    LetterDeposited,
    LetterRefused,
    NoticeFailed,
    NoticeSent,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service
from signer.service_layer import handlers
from signer.settings import SignerSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: SignerSettings) -> ServiceRuntime:
    bus = Bus(settings, Service.signer)
    policy = settings.policy_id
    bus.subscribe(LetterDeposited, partial(handlers.on_letter_deposited, policy_id=policy))
    bus.subscribe(NoticeSent, partial(handlers.on_notice_sent, policy_id=policy))
    bus.subscribe(NoticeFailed, partial(handlers.on_notice_failed, policy_id=policy))
    bus.subscribe(LetterAccepted, partial(handlers.on_letter_accepted, policy_id=policy))
    bus.subscribe(LetterRefused, partial(handlers.on_letter_refused, policy_id=policy))
    return ServiceRuntime(bus=bus, migrations=MIGRATIONS)
