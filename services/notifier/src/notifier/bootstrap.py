"""Wires the notifier's channels into its handlers and its handlers into the bus."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

from lre_shared import units
from lre_shared.bus import Bus, Handler
from lre_shared.contracts import (
    LetterAccepted,
    LetterLanguageChanged,
    LetterRefused,
    Message,
    NoticeChannel,
    SendCaseConfirmation,
    SendCode,
    SendNotice,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service
from notifier.adapters.attempts import PgAttemptLog
from notifier.adapters.channels import EmailChannel, RateLimited, UnconfiguredChannel
from notifier.adapters.email import DkimKey, SmtpMailer
from notifier.adapters.fax import EmailFaxGateway
from notifier.adapters.postgres import unit_of_work
from notifier.adapters.telephony import TwilioAccount, TwilioSms, TwilioVoice
from notifier.domain.rate import TokenBucket
from notifier.entrypoints.ticker import ReminderTicker
from notifier.service_layer import handlers, reminders
from notifier.service_layer.ports import AttemptLog, Channel, Mailer, TextMessenger, UnitOfWork
from notifier.settings import NotifierSettings

MIGRATIONS = Path(__file__).parent / "migrations"

M = TypeVar("M", bound=Message)


def on_unit_of_work(use_case: Callable[[M, UnitOfWork], Awaitable[Message | None]]) -> Handler[M]:
    """The use case as the bus calls it: on the notifier's unit of work over the bus's transaction."""
    return units.in_unit_of_work(unit_of_work, use_case)


@dataclass
class Notifier:
    """The running notifier: its runtime and the parts tests and the web routes reach."""

    runtime: ServiceRuntime
    mailer: Mailer
    channels: Mapping[NoticeChannel, Channel]
    ticker: ReminderTicker
    twilio: TwilioAccount | None = None
    closers: list[SmtpMailer | TwilioAccount | PgAttemptLog] = field(default_factory=list)


def build_mailer(settings: NotifierSettings) -> SmtpMailer:
    dkim_key = None
    if settings.dkim_selector and settings.dkim_private_key:
        dkim_key = DkimKey(
            selector=settings.dkim_selector,
            domain=settings.dkim_domain or settings.mail_from.rpartition("@")[2],
            private_key_pem=settings.dkim_private_key.get_secret_value().encode(),
        )
    tls_context = None
    if settings.smtp_ca_file is not None:
        tls_context = ssl.create_default_context(cafile=str(settings.smtp_ca_file))
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout=settings.smtp_timeout_seconds,
        pool_size=settings.smtp_pool_size,
        dkim_key=dkim_key,
        tls_context=tls_context,
    )


def build_twilio(settings: NotifierSettings) -> TwilioAccount | None:
    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number):
        return None
    from notifier.entrypoints.web import TWILIO_STATUS_PATH

    return TwilioAccount(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        from_number=settings.twilio_from_number,
        base_url=settings.twilio_base_url,
        status_callback=settings.own_url + TWILIO_STATUS_PATH,
    )


TWILIO_SETTINGS = ("NOTIFIER_TWILIO_ACCOUNT_SID", "NOTIFIER_TWILIO_AUTH_TOKEN", "NOTIFIER_TWILIO_FROM_NUMBER")


def build_channels(
    settings: NotifierSettings, mailer: Mailer, twilio: TwilioAccount | None
) -> dict[NoticeChannel, Channel]:
    email_bucket = TokenBucket(settings.smtp_rate_per_second, max(1.0, settings.smtp_rate_per_second))
    channels: dict[NoticeChannel, Channel] = {
        NoticeChannel.email: RateLimited(EmailChannel(mailer), email_bucket),
    }
    if twilio is None:
        channels[NoticeChannel.sms] = UnconfiguredChannel("sms", TWILIO_SETTINGS)
        channels[NoticeChannel.voice] = UnconfiguredChannel("voice", TWILIO_SETTINGS)
    else:
        # One account, one rate: SMS and calls share the bucket.
        bucket = TokenBucket(settings.twilio_rate_per_second, max(1.0, settings.twilio_rate_per_second))
        channels[NoticeChannel.sms] = RateLimited(TwilioSms(twilio), bucket)
        channels[NoticeChannel.voice] = RateLimited(TwilioVoice(twilio), bucket)
    if settings.fax_gateway_pattern:
        channels[NoticeChannel.fax] = RateLimited(
            EmailFaxGateway(mailer, settings.fax_gateway_pattern), email_bucket
        )
    else:
        channels[NoticeChannel.fax] = UnconfiguredChannel("fax", ("NOTIFIER_FAX_GATEWAY_PATTERN",))
    return channels


def build(
    settings: NotifierSettings,
    mailer: Mailer | None = None,
    attempts: AttemptLog | None = None,
    ticker: ReminderTicker | None = None,
) -> Notifier:
    smtp = build_mailer(settings) if mailer is None else None
    email: Mailer = mailer or smtp  # type: ignore[assignment]
    twilio = build_twilio(settings)
    channels = build_channels(settings, email, twilio)
    every = timedelta(days=settings.reminder_every_days)
    ticker = ticker or ReminderTicker(every, settings.reminder_poll_seconds)
    bus = Bus(settings, Service.notifier)
    runtime = ServiceRuntime(bus=bus, migrations=MIGRATIONS)
    own_log = PgAttemptLog(settings.database_url.get_secret_value()) if attempts is None else None
    log: AttemptLog = attempts or own_log  # type: ignore[assignment]
    send_notice = partial(
        handlers.send_notice,
        channels=channels,
        attempts=log,
        pickup_url=settings.pickup_url,
        reminder_every=every,
        opt_out_url=settings.own_url,
    )
    bus.subscribe(SendNotice, on_unit_of_work(send_notice))
    texts: TextMessenger = TwilioSms(twilio) if twilio else UnconfiguredChannel("sms", TWILIO_SETTINGS)
    send_code = partial(handlers.send_code, mailer=email, texts=texts, attempts=log)
    bus.subscribe(SendCode, on_unit_of_work(send_code))
    confirm = partial(handlers.send_case_confirmation, mailer=email, texts=texts, attempts=log)
    bus.subscribe(SendCaseConfirmation, on_unit_of_work(confirm))
    # Reminders go in the language the recipient last chose on the pickup site.
    bus.subscribe(LetterLanguageChanged, on_unit_of_work(reminders.on_language_changed))
    bus.subscribe(LetterAccepted, on_unit_of_work(reminders.stop_on_decision))
    bus.subscribe(LetterRefused, on_unit_of_work(reminders.stop_on_decision))
    notifier = Notifier(runtime, email, channels, ticker, twilio)
    notifier.closers = [c for c in (smtp, twilio, own_log) if c is not None]
    runtime.on_started = [ticker.start]
    runtime.on_stopping = [ticker.stop, *(c.close for c in notifier.closers)]
    return notifier


def bootstrap(settings: NotifierSettings, mailer: Mailer | None = None) -> ServiceRuntime:
    return build(settings, mailer).runtime
