"""The notifier on the real parts: a real SMTP server (aiosmtpd), RabbitMQ and PostgreSQL.

The mailer is exercised alone against the session's mail catcher; the service runs
in-process with its own runtime, against the catcher or against SMTP servers of the
test's own that refuse recipients for good (550) or for now (451).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from deploy.local.demo import DEMO_SENDER
from deploy.local.mailcatcher import MailCatcherHandler, MailStore, free_port
from lre_shared.contracts import (
    LetterAccepted,
    NoticeChannel,
    NoticeFailed,
    NoticeKind,
    NoticeSent,
    SendNotice,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service, events_exchange
from notifier.adapters.email import Email, SmtpMailer
from notifier.adapters.templates import render_notice
from notifier.bootstrap import bootstrap
from notifier.domain.delivery import delivery_key
from notifier.entrypoints.ticker import ReminderTicker
from notifier.entrypoints.web import create_site
from notifier.service_layer.ports import Mailer
from notifier.settings import NotifierSettings
from tests.support.bus import Probe, eventually, open_probe, publish_raw, purge_queues
from tests.support.fixtures import SmtpServer

pytestmark = pytest.mark.integration

MAIL_FROM = "notifications@lre.example"
PICKUP_URL = "https://lre.example/"


# --------------------------------------------------------------------------- helpers


@pytest.fixture
async def probe(amqp_url: str) -> AsyncIterator[Probe]:
    async with open_probe(amqp_url, (events_exchange(Service.notifier), "notice.*.v1")) as found:
        yield found


StartNotifier = Callable[..., Awaitable[ServiceRuntime]]


@pytest.fixture
async def start_notifier(amqp_url: str, database_url: str) -> AsyncIterator[StartNotifier]:
    """Starts the notifier in-process against the given SMTP server; stops it afterwards."""
    started: list[ServiceRuntime] = []

    async def start(host: str, port: int, mailer: Mailer | None = None, **overrides: Any) -> ServiceRuntime:
        settings = NotifierSettings(
            amqp_url=amqp_url,
            database_url=database_url,
            http_port=0,
            smtp_host=host,
            smtp_port=port,
            smtp_starttls=False,
            smtp_timeout_seconds=5.0,
            mail_from=MAIL_FROM,
            pickup_url=PICKUP_URL,
            outbox_poll_seconds=0.2,
            **overrides,
        )
        runtime = bootstrap(settings, mailer)
        await runtime.startup()
        started.append(runtime)
        await purge_queues(amqp_url, runtime)
        await runtime.bus.broker.start()
        return runtime

    yield start
    for runtime in started:
        await runtime.bus.broker.stop()
        await runtime.shutdown()
        await runtime.after_shutdown()


class RefusingHandler(MailCatcherHandler):
    """Answers RCPT with `reply` while `refusing` is set; accepts and keeps mail otherwise."""

    def __init__(self, store: MailStore, reply: str) -> None:
        super().__init__(store)
        self.reply = reply
        self.refusing = True
        self.refused = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refusing:
            self.refused += 1
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"


@dataclass(frozen=True)
class OwnSmtp:
    host: str
    port: int
    handler: RefusingHandler


@pytest.fixture
def refusing_smtp() -> Iterator[Callable[[str], OwnSmtp]]:
    controllers: list[Controller] = []

    def start(reply: str) -> OwnSmtp:
        handler = RefusingHandler(MailStore(), reply)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return OwnSmtp("127.0.0.1", port, handler)

    yield start
    for controller in controllers:
        controller.stop()


def unique_address() -> str:
    return f"destinataire-{uuid.uuid4().hex[:10]}@exemple.example"


def send_notice(address: str, deadline: date | None = None) -> SendNotice:
    return SendNotice(
        correlation_id=uuid.uuid4(),
        item_number=f"{uuid.uuid4().int % 10**12:012d}",
        address=address,
        deadline=deadline or date.today() + timedelta(days=15),
    )


async def publish_command(amqp_url: str, command: SendNotice) -> None:
    await publish_raw(
        amqp_url, command.exchange, command.routing_key, command.to_json(), str(command.message_id)
    )


async def first_notice_sent(amqp_url: str, probe: Probe) -> tuple[SendNotice, NoticeSent]:
    """A notice with a fortnight to decide, published and sent: its command and its event."""
    command = send_notice(unique_address(), deadline=date.today() + timedelta(days=15))
    await publish_command(amqp_url, command)
    await eventually(lambda: bool(probe.of(NoticeSent.routing_key, command.correlation_id)))
    sent = NoticeSent.model_validate_json(probe.of(NoticeSent.routing_key, command.correlation_id)[0].body)
    return command, sent


async def refused_for_good(
    runtime: ServiceRuntime, probe: Probe, command: SendNotice, why: str
) -> NoticeFailed:
    """The notice's `NoticeFailed` once the server refused it with a 550 saying `why`: for
    good, never retried, and the attempt recorded as failed."""
    # Whichever comes first: the failure event, or a retry (which a 550 must never cause).
    await eventually(lambda: bool(probe.about(command.correlation_id)) or runtime.bus.stats.retried > 0)

    assert runtime.bus.stats.retried == 0
    failed = NoticeFailed.model_validate_json(
        probe.of(NoticeFailed.routing_key, command.correlation_id)[0].body
    )
    assert failed.permanent is True
    assert "550" in failed.reason
    assert why in failed.reason
    row = await runtime.pool.fetchrow(
        "SELECT outcome, reason FROM delivery_attempts WHERE outcome <> 'sending'"
    )
    assert row["outcome"] == "failed"
    assert why in row["reason"]
    return failed


def part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    assert body is not None, f"no text/{subtype} part"
    assert body.get_content_type() == f"text/{subtype}"
    return str(body.get_content())


# ----------------------------------------------------------------------------- tests


async def test_the_smtp_mailer_sends_a_complete_notice_with_both_parts_and_no_sender_name(
    smtp: SmtpServer,
) -> None:
    mailer = SmtpMailer(
        host=smtp.host,
        port=smtp.port,
        sender=MAIL_FROM,
        starttls=False,
        username=None,
        password=None,
        timeout=5.0,
    )
    to = unique_address()
    item_number = "123456789012"
    notice = render_notice(item_number, PICKUP_URL, date(2031, 3, 14))

    message_id = await mailer.send(Email(to, notice.subject, notice.text, notice.html))

    received = await smtp.store.wait_for_async(lambda m: m["To"] == to, timeout=10)
    assert parseaddr(str(received["From"]))[1] == MAIL_FROM
    assert received["To"] == to
    assert received["Subject"] == notice.subject
    sent_at = parsedate_to_datetime(str(received["Date"]))
    if sent_at.tzinfo is None:  # "-0000": UTC, local zone not disclosed (RFC 5322 3.3)
        sent_at = sent_at.replace(tzinfo=UTC)
    assert abs(sent_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert received["Message-ID"] == message_id
    assert message_id.endswith("@lre.example>")
    assert received.is_multipart()
    text, html = part(received, "plain"), part(received, "html")
    assert item_number in text
    assert item_number in html
    assert "14/03/2031" in text
    raw = received.as_string()
    assert DEMO_SENDER.name not in raw
    assert DEMO_SENDER.email not in raw


async def test_a_send_notice_command_becomes_an_email_a_notice_sent_event_and_an_attempt_row(
    start_notifier: StartNotifier, probe: Probe, smtp: SmtpServer, amqp_url: str
) -> None:
    runtime = await start_notifier(smtp.host, smtp.port)
    command = send_notice(unique_address())

    await publish_command(amqp_url, command)

    email = await smtp.store.wait_for_async(lambda m: m["To"] == command.address, timeout=20)
    await eventually(lambda: bool(probe.of(NoticeSent.routing_key, command.correlation_id)))
    sent = NoticeSent.model_validate_json(probe.of(NoticeSent.routing_key, command.correlation_id)[0].body)
    assert sent.notice_id == command.message_id
    assert sent.item_number == command.item_number
    assert sent.address == command.address
    assert sent.provider_message_id == email["Message-ID"]
    assert command.item_number in part(email, "plain")
    assert command.deadline.strftime("%d/%m/%Y") in part(email, "plain")
    assert PICKUP_URL in part(email, "plain")
    assert DEMO_SENDER.name not in email.as_string()

    rows = await runtime.pool.fetch(
        "SELECT notice_id, letter_id, channel, address, outcome, reason, provider_message_id"
        " FROM delivery_attempts WHERE outcome <> 'sending'"
    )
    assert len(rows) == 1
    row = rows[0]
    assert row["notice_id"] == command.message_id
    assert row["letter_id"] == command.correlation_id
    assert (row["channel"], row["address"], row["outcome"]) == ("email", command.address, "sent")
    assert row["reason"] is None
    assert row["provider_message_id"] == email["Message-ID"]


async def test_the_same_send_notice_delivered_twice_sends_one_email(
    start_notifier: StartNotifier, probe: Probe, smtp: SmtpServer, amqp_url: str
) -> None:
    runtime = await start_notifier(smtp.host, smtp.port)
    command = send_notice(unique_address())

    await publish_command(amqp_url, command)
    await publish_command(amqp_url, command)
    stats = runtime.bus.stats
    await eventually(lambda: stats.handled + stats.duplicates >= 2)
    await eventually(lambda: bool(probe.of(NoticeSent.routing_key, command.correlation_id)))
    await asyncio.sleep(0.5)

    assert stats.duplicates == 1
    assert len([m for m in smtp.store.messages if m["To"] == command.address]) == 1
    assert len(probe.about(command.correlation_id)) == 1
    assert (
        await runtime.pool.fetchval("SELECT count(*) FROM delivery_attempts WHERE outcome <> 'sending'") == 1
    )


@dataclass
class AcceptedThenLost:
    """The real mailer; after the server accepts the first email, the process 'stops' before
    the outcome is recorded: the handler fails with an error that is no delivery error, its
    transaction rolls back, and the broker redelivers the command."""

    mailer: SmtpMailer
    lost: int = 0

    async def send(self, email: Email) -> str:
        message_id = await self.mailer.send(email)
        if self.lost == 0:
            self.lost += 1
            raise ConnectionAbortedError("stopped between the SMTP acceptance and the commit")
        return message_id


async def test_a_notice_whose_send_was_not_committed_is_resent_with_the_same_message_id_and_one_event(
    start_notifier: StartNotifier, probe: Probe, smtp: SmtpServer, amqp_url: str
) -> None:
    mailer = AcceptedThenLost(SmtpMailer(smtp.host, smtp.port, MAIL_FROM, False, None, None, 5.0))
    runtime = await start_notifier(smtp.host, smtp.port, mailer)
    command = send_notice(unique_address())

    await publish_command(amqp_url, command)
    await eventually(lambda: bool(probe.of(NoticeSent.routing_key, command.correlation_id)))
    await asyncio.sleep(0.5)

    emails = [m for m in smtp.store.messages if m["To"] == command.address]
    assert len(emails) == 2  # the server took it twice: once lost, once recorded
    key = delivery_key(command.message_id, NoticeChannel.email)
    assert [m["Message-ID"] for m in emails] == [f"<{key}@lre.example>"] * 2
    [event] = probe.about(command.correlation_id)
    assert NoticeSent.model_validate_json(event.body).provider_message_id == f"<{key}@lre.example>"
    rows = await runtime.pool.fetch("SELECT outcome FROM delivery_attempts ORDER BY id")
    assert [r["outcome"] for r in rows] == ["sending", "sending", "sent"]
    await mailer.mailer.close()


async def test_a_recipient_refused_with_550_gives_a_permanent_notice_failed_without_retry(
    start_notifier: StartNotifier, probe: Probe, refusing_smtp: Callable[[str], OwnSmtp], amqp_url: str
) -> None:
    server = refusing_smtp("550 no such user")
    runtime = await start_notifier(server.host, server.port)
    command = send_notice(unique_address())

    await publish_command(amqp_url, command)

    failed = await refused_for_good(runtime, probe, command, "no such user")
    assert failed.notice_id == command.message_id
    assert server.handler.refused == 1


async def test_a_message_refused_with_550_at_data_gives_a_permanent_notice_failed_without_retry(
    start_notifier: StartNotifier, probe: Probe, amqp_url: str
) -> None:
    class RefuseData:
        calls = 0

        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            RefuseData.calls += 1
            return "550 message rejected by policy"

    port = free_port()
    controller = Controller(RefuseData(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        runtime = await start_notifier("127.0.0.1", port)
        command = send_notice(unique_address())

        await publish_command(amqp_url, command)

        await refused_for_good(runtime, probe, command, "rejected by policy")
        assert RefuseData.calls == 1
    finally:
        controller.stop()


async def test_a_451_is_retried_by_the_bus_and_the_notice_is_sent_once_the_server_accepts(
    start_notifier: StartNotifier, probe: Probe, refusing_smtp: Callable[[str], OwnSmtp], amqp_url: str
) -> None:
    server = refusing_smtp("451 4.3.0 try again later")
    runtime = await start_notifier(server.host, server.port)
    command = send_notice(unique_address())

    await publish_command(amqp_url, command)
    await eventually(lambda: runtime.bus.stats.retried >= 1)
    assert not probe.about(command.correlation_id)
    deferred = await runtime.pool.fetch(
        "SELECT outcome, reason FROM delivery_attempts WHERE outcome <> 'sending'"
    )
    assert deferred
    assert all(r["outcome"] == "deferred" and "451" in r["reason"] for r in deferred)
    server.handler.refusing = False

    await eventually(lambda: bool(probe.of(NoticeSent.routing_key, command.correlation_id)))
    await asyncio.sleep(0.5)

    assert server.handler.refused >= 1
    assert len([m for m in server.handler.store.messages if m["To"] == command.address]) == 1
    assert len(probe.about(command.correlation_id)) == 1
    rows = await runtime.pool.fetch(
        "SELECT outcome FROM delivery_attempts WHERE outcome <> 'sending' ORDER BY id"
    )
    assert [r["outcome"] for r in rows][-1] == "sent"
    assert {r["outcome"] for r in rows[:-1]} == {"deferred"}
    assert runtime.bus.stats.dead_lettered == 0


async def test_an_email_refused_for_good_falls_back_to_an_sms_through_twilio(
    start_notifier: StartNotifier,
    probe: Probe,
    refusing_smtp: Callable[[str], OwnSmtp],
    amqp_url: str,
    prism_url: str,
) -> None:
    server = refusing_smtp("550 no such user")
    runtime = await start_notifier(
        server.host,
        server.port,
        twilio_account_sid="AC" + "0123456789abcdef" * 2,
        twilio_auth_token="test-auth-token",
        twilio_from_number="+33700000001",
        twilio_base_url=prism_url,
    )
    command = send_notice(unique_address()).model_copy(
        update={"phone": "+33612345678", "fallback": (NoticeChannel.sms,)}
    )

    await publish_command(amqp_url, command)
    await eventually(lambda: bool(probe.of(NoticeSent.routing_key, command.correlation_id)))

    sent = NoticeSent.model_validate_json(probe.of(NoticeSent.routing_key, command.correlation_id)[0].body)
    assert (sent.channel, sent.address) == (NoticeChannel.sms, "+33612345678")
    assert sent.provider_message_id and sent.provider_message_id.startswith("SM")
    rows = await runtime.pool.fetch(
        "SELECT channel, outcome, reason FROM delivery_attempts WHERE outcome <> 'sending' ORDER BY id"
    )
    assert [(r["channel"], r["outcome"]) for r in rows] == [("email", "failed"), ("sms", "sent")]
    assert "550" in rows[0]["reason"]


async def test_sms_without_twilio_settings_fails_for_good_naming_the_missing_settings(
    start_notifier: StartNotifier, probe: Probe, smtp: SmtpServer, amqp_url: str
) -> None:
    runtime = await start_notifier(smtp.host, smtp.port)
    command = send_notice(unique_address()).model_copy(
        update={"channel": NoticeChannel.sms, "phone": "+33612345678"}
    )

    await publish_command(amqp_url, command)
    await eventually(lambda: bool(probe.of(NoticeFailed.routing_key, command.correlation_id)))

    failed = NoticeFailed.model_validate_json(
        probe.of(NoticeFailed.routing_key, command.correlation_id)[0].body
    )
    assert failed.permanent is True
    assert "NOTIFIER_TWILIO_ACCOUNT_SID" in failed.reason
    assert runtime.bus.stats.retried == 0


async def test_reminders_every_three_days_until_the_recipient_opts_out(
    start_notifier: StartNotifier, probe: Probe, smtp: SmtpServer, amqp_url: str
) -> None:
    runtime = await start_notifier(smtp.host, smtp.port)
    command, first = await first_notice_sent(amqp_url, probe)
    now = first.sent_at
    ticker = ReminderTicker(timedelta(days=3), 60, clock=lambda: now)

    now = first.sent_at + timedelta(days=2, hours=23)
    assert await ticker.tick(runtime.pool) == 0
    now = first.sent_at + timedelta(days=3, minutes=1)
    assert await ticker.tick(runtime.pool) == 1
    reminder = await smtp.store.wait_for_async(
        lambda m: m["To"] == command.address and m["Subject"].startswith("Rappel"), timeout=20
    )
    await eventually(lambda: len(probe.of(NoticeSent.routing_key, command.correlation_id)) == 2)
    assert await ticker.tick(runtime.pool) == 0  # the next one is three days later

    link = "".join(str(reminder["List-Unsubscribe"]).split()).strip("<>")
    assert reminder["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in part(reminder, "plain")
    site = create_site(lambda: runtime.pool, own_url="http://notifier", twilio_auth_token=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site), base_url="http://notifier") as web:
        confirm = await web.get(urlsplit(link).path)  # what a link scanner does: changes nothing
        assert confirm.status_code == 200
        assert '<form method="post">' in confirm.text
        assert (
            await runtime.pool.fetchval(
                "SELECT stopped FROM reminders WHERE letter_id = $1", command.correlation_id
            )
            is None
        )
        response = await web.post(urlsplit(link).path, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
        assert (await web.get("/reminders/opt-out/not-a-token")).status_code == 404

    now = first.sent_at + timedelta(days=6, minutes=1)
    assert await ticker.tick(runtime.pool) == 0
    stopped = await runtime.pool.fetchval(
        "SELECT stopped FROM reminders WHERE letter_id = $1", command.correlation_id
    )
    assert stopped == "opted out"
    sent = [
        NoticeSent.model_validate_json(m.body)
        for m in probe.of(NoticeSent.routing_key, command.correlation_id)
    ]
    assert [s.kind for s in sent] == [NoticeKind.notice, NoticeKind.reminder]


async def test_a_decision_stops_the_reminders(
    start_notifier: StartNotifier, probe: Probe, smtp: SmtpServer, amqp_url: str
) -> None:
    runtime = await start_notifier(smtp.host, smtp.port)
    command = send_notice(unique_address(), deadline=date.today() + timedelta(days=15))
    await publish_command(amqp_url, command)
    await eventually(lambda: bool(probe.of(NoticeSent.routing_key, command.correlation_id)))

    accepted = LetterAccepted(
        correlation_id=command.correlation_id, item_number=command.item_number, accepted_at=datetime.now(UTC)
    )
    await publish_raw(
        amqp_url, accepted.exchange, accepted.routing_key, accepted.to_json(), str(accepted.message_id)
    )

    async def stopped() -> str | None:
        value = await runtime.pool.fetchval(
            "SELECT stopped FROM reminders WHERE letter_id = $1", command.correlation_id
        )
        return str(value) if value else None

    for _ in range(200):
        if await stopped():
            break
        await asyncio.sleep(0.05)
    assert await stopped() == "decided"
    ticker = ReminderTicker(timedelta(days=3), 60, clock=lambda: datetime.now(UTC) + timedelta(days=4))
    assert await ticker.tick(runtime.pool) == 0
