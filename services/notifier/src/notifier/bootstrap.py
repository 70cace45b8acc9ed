"""Wires the notifier's channels into its handlers and its handlers into the bus."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from lre_shared.bus import Bus
from lre_shared.messages import SendNotice
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service
from notifier.adapters.email import Mailer, SmtpMailer
from notifier.service_layer import handlers
from notifier.settings import NotifierSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: NotifierSettings, mailer: Mailer | None = None) -> ServiceRuntime:
    email = mailer or SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout=settings.smtp_timeout_seconds,
    )
    bus = Bus(settings, Service.notifier)
    bus.subscribe(SendNotice, partial(handlers.send_notice, mailer=email, pickup_url=settings.pickup_url))
    return ServiceRuntime(bus=bus, migrations=MIGRATIONS)
