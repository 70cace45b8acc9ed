"""The notifier on the real parts (RabbitMQ, PostgreSQL, the SMTP catcher): the confirmation
of a verification case reaches the recipient in their language with the documents required;
reminders follow the language the recipient last chose on the pickup site."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from lre_shared.contracts import (
    DocumentChannel,
    LetterLanguageChanged,
    RequiredDocument,
    SendCaseConfirmation,
    now_utc,
)
from notifier.entrypoints.ticker import ReminderTicker
from services.notifier.tests.integration.test_notifier_delivery import (
    StartNotifier,
    first_notice_sent,
    part,
    probe,
    start_notifier,
    unique_address,
)
from tests.support.bus import Probe, eventually, publish_raw
from tests.support.fixtures import SmtpServer

pytestmark = pytest.mark.integration

__all__ = ["probe", "start_notifier"]


async def test_the_case_confirmation_goes_in_english_with_the_documents_required(
    start_notifier: StartNotifier, smtp: SmtpServer, amqp_url: str
) -> None:
    await start_notifier(smtp.host, smtp.port)
    address = unique_address()
    command = SendCaseConfirmation(
        correlation_id=uuid.uuid4(),
        channel="email",
        address=address,
        reference="LRE-7K3M9Q",
        document_channel=DocumentChannel.email,
        document_address="identite@lre.example",
        required_documents=(
            RequiredDocument.identity_six_months,
            RequiredDocument.company_extract,
            RequiredDocument.bar_certificate,
        ),
        language="en",
    )

    await publish_raw(
        amqp_url, command.exchange, command.routing_key, command.to_json(), str(command.message_id)
    )

    mail = await smtp.store.wait_for_async(lambda m: m["To"] == address, timeout=20)
    text = part(mail, "plain")
    assert mail["Subject"] == "Your signing code request LRE-7K3M9Q is recorded"
    assert "- an identity document valid for more than 6 more months" in text
    assert "- a company extract (Kbis) with a valid SIREN or SIRET number" in text
    assert "- this year's bar registration certificate" in text
    assert "Email them to identite@lre.example, with the reference LRE-7K3M9Q in the subject." in text


async def test_reminders_follow_the_language_the_recipient_chose_on_the_site(
    start_notifier: StartNotifier, probe: Probe, smtp: SmtpServer, amqp_url: str
) -> None:
    runtime = await start_notifier(smtp.host, smtp.port)
    command, first = await first_notice_sent(amqp_url, probe)

    changed = LetterLanguageChanged(
        correlation_id=command.correlation_id,
        item_number=command.item_number,
        language="en",
        changed_at=now_utc(),
    )
    await publish_raw(
        amqp_url, changed.exchange, changed.routing_key, changed.to_json(), str(changed.message_id)
    )

    async def english() -> bool:
        found = await runtime.pool.fetchval(
            "SELECT language FROM reminders WHERE letter_id = $1", command.correlation_id
        )
        return bool(found == "en")

    await eventually(english)
    ticker = ReminderTicker(timedelta(days=3), 60, clock=lambda: first.sent_at + timedelta(days=3, minutes=1))
    assert await ticker.tick(runtime.pool) == 1
    reminder = await smtp.store.wait_for_async(
        lambda m: m["To"] == command.address and m["Subject"].startswith("Reminder"), timeout=20
    )
    assert "Reminder: a registered electronic letter is still waiting for you." in part(reminder, "plain")
