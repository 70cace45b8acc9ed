"""SMS, voice and fax alerts beside the emailed notice, on the platform as `make run`
configures it: Twilio's API served by Prism from Twilio's own description, the fax gateway
into the SMTP catcher, DKIM-signed email. Each channel tried leaves its own evidence
(ETSI EN 319 522 NotificationForAcceptance / NotificationForAcceptanceFailure, naming the
channel); a channel refused for good, or reported undelivered, gives way to the next one of
the letter's order; only the email notice starts the window (CPCE R.53-3)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import dkim
import httpx
import pytest
from twilio.request_validator import RequestValidator

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from deploy.local.platform import dkim_public_record
from lre_shared.contracts import Document, NoticeChannel, SubmitLetter
from lre_shared.sender import submit_letter
from tests.support.fixtures import SmtpServer, TwilioApi
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform
from tests.support.site import plain_text

pytestmark = pytest.mark.e2e

SMS, VOICE, FAX = NoticeChannel.sms, NoticeChannel.voice, NoticeChannel.fax
MOBILE, LANDLINE, FAX_NUMBER = "+33612345678", "+33142680000", "+33142680001"
FOR_ACCEPTANCE = "NotificationForAcceptance"
FAILURE = "NotificationForAcceptanceFailure"


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform, test_pki: TestPki) -> RunningPlatform:
    return services.start_on_test_pki(test_pki)


async def deposit(
    platform: RunningPlatform, alerts: tuple[NoticeChannel, ...], **recipient: Any
) -> uuid.UUID:
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT.model_copy(
            update={"email": f"alerts-{uuid.uuid4().hex[:8]}@exemple.example"} | recipient
        ),
        main_document=Document(filename="mise-en-demeure.pdf", content=demo_pdf()),
        alert_channels=alerts,
    )
    return await submit_letter(platform.amqp_url, command)


async def notifications(
    platform: RunningPlatform,
    letter_id: uuid.UUID,
    until: Callable[[list[tuple[str, str]]], bool],
    timeout: float = 60,
) -> list[tuple[str, str]]:
    """The letter's notification evidence, (event, channel) in chain order, once `until` holds."""
    found: list[tuple[str, str]] = []
    conn = await asyncpg.connect(platform.database_url("signer"))
    try:
        for _ in range(int(timeout * 5)):
            rows = await conn.fetch(
                "SELECT event, record FROM evidence WHERE letter_id = $1 AND event LIKE 'NotificationFor%'"
                " ORDER BY seq",
                letter_id,
            )
            found = [(r["event"], json.loads(bytes(r["record"]))["details"]["channel"]) for r in rows]
            if until(found):
                return found
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    raise AssertionError(f"notification evidence of {letter_id}: {found}")


async def attempts(platform: RunningPlatform, letter_id: uuid.UUID) -> list[asyncpg.Record]:
    """The outcomes of the letter's attempts (the 'sending' mark before each is left out)."""
    conn = await asyncpg.connect(platform.database_url("notifier"))
    try:
        return await conn.fetch(
            "SELECT channel, address, outcome, provider_message_id FROM delivery_attempts"
            " WHERE letter_id = $1 AND outcome <> 'sending' ORDER BY id",
            letter_id,
        )
    finally:
        await conn.close()


async def first_notice_at(platform: RunningPlatform, letter_id: uuid.UUID) -> datetime | None:
    conn = await asyncpg.connect(platform.database_url("pickup"))
    try:
        value: datetime | None = await conn.fetchval(
            "SELECT first_notice_at FROM letters WHERE letter_id = $1", letter_id
        )
        return value
    finally:
        await conn.close()


async def test_a_letter_with_sms_voice_and_fax_alerts_reaches_every_channel_with_evidence_for_each(
    platform_running: RunningPlatform, smtp: SmtpServer, twilio_api: TwilioApi
) -> None:
    letter_id = await deposit(
        platform_running, (SMS, VOICE, FAX), mobile=MOBILE, landline=LANDLINE, fax=FAX_NUMBER
    )

    records = await notifications(platform_running, letter_id, lambda found: len(found) >= 4)
    assert sorted(records) == sorted((FOR_ACCEPTANCE, c) for c in ("email", "sms", "voice", "fax"))

    # The legal notice by email, signed with the platform's DKIM key.
    sent = {
        row["channel"]: row for row in await attempts(platform_running, letter_id) if row["outcome"] == "sent"
    }
    notice = next(
        m for m in smtp.store.mails if m.message["Message-ID"] == sent["email"]["provider_message_id"]
    )
    key_file = platform_running.config.dkim_key_file
    assert key_file is not None
    assert dkim.verify(notice.raw, dnsfunc=lambda name, timeout=5: dkim_public_record(key_file))
    item_number = next(line for line in plain_text(notice.message).splitlines() if "Numéro de pli" in line)
    item_number = item_number.split(":", 1)[1].strip()

    # The fax: an email to the gateway address, the notice as a PDF, the same item number.
    # Other letters of the session may have been faxed to the same number: this letter's fax.
    fax = await smtp.store.wait_for_async(
        lambda m: (
            m["To"] == "33142680001@fax.localhost"
            and any(part.get_filename() == f"avis_{item_number}.pdf" for part in m.iter_attachments())
        ),
        timeout=30,
    )
    [pdf] = [part for part in fax.iter_attachments() if part.get_filename() == f"avis_{item_number}.pdf"]
    assert pdf.get_content().startswith(b"%PDF")
    assert DEMO_SENDER.name not in fax.as_string()

    # The SMS and the call: requests Prism took as valid for Twilio's API, to the mobile.
    assert sent["sms"]["address"] == MOBILE and sent["sms"]["provider_message_id"].startswith(("SM", "MM"))
    assert sent["voice"]["address"] == MOBILE and sent["voice"]["provider_message_id"].startswith("CA")
    log = twilio_api.log.read_text(errors="replace")
    assert "Messages.json" in log and "Calls.json" in log

    # The window runs from the email notice.
    assert await first_notice_at(platform_running, letter_id) is not None


async def test_an_email_refused_for_good_gives_way_to_the_sms_which_does_not_start_the_window(
    platform_running: RunningPlatform, smtp: SmtpServer
) -> None:
    email = f"nobody-{uuid.uuid4().hex[:8]}@exemple.example"
    smtp.store.refuse(email)

    letter_id = await deposit(platform_running, (NoticeChannel.email,), email=email, mobile=MOBILE)

    records = await notifications(platform_running, letter_id, lambda found: len(found) >= 2)
    # Two events on two queues of the signer: recorded in either order.
    assert sorted(records) == [(FOR_ACCEPTANCE, "sms"), (FAILURE, "email")]
    assert [(r["channel"], r["outcome"]) for r in await attempts(platform_running, letter_id)] == [
        ("email", "failed"),
        ("sms", "sent"),
    ]
    # CPCE R.53-3: an SMS is an alert, not the notice; the window has not started.
    assert await first_notice_at(platform_running, letter_id) is None


async def test_an_sms_reported_undelivered_gives_way_to_the_next_channel_once(
    platform_running: RunningPlatform,
) -> None:
    letter_id = await deposit(platform_running, (NoticeChannel.email, SMS), mobile=MOBILE, fax=FAX_NUMBER)
    await notifications(platform_running, letter_id, lambda found: len(found) >= 2)
    [sms] = [r for r in await attempts(platform_running, letter_id) if r["channel"] == "sms"]

    # Twilio's status callback, signed with the account's token; sent twice, as Twilio may.
    config = platform_running.config
    url = f"http://127.0.0.1:{config.ports['notifier']}/providers/twilio/status"
    form = {"MessageSid": sms["provider_message_id"], "MessageStatus": "undelivered", "ErrorCode": "30003"}
    signature = RequestValidator(config.twilio_auth_token).compute_signature(url, form)
    async with httpx.AsyncClient() as client:
        for _ in range(2):
            answer = await client.post(url, data=form, headers={"X-Twilio-Signature": signature})
            assert answer.status_code == 200, answer.text

    # Email was used already: the next channel of the letter's order is a call to the mobile.
    records = await notifications(platform_running, letter_id, lambda found: len(found) >= 4)
    assert sorted(records[:2]) == [(FOR_ACCEPTANCE, "email"), (FOR_ACCEPTANCE, "sms")]
    assert sorted(records[2:]) == [(FOR_ACCEPTANCE, "voice"), (FAILURE, "sms")]
    await asyncio.sleep(2)  # the second report changes nothing
    outcomes = [(r["channel"], r["outcome"]) for r in await attempts(platform_running, letter_id)]
    assert sorted(outcomes) == sorted(
        [("email", "sent"), ("sms", "sent"), ("sms", "failed"), ("voice", "sent")]
    )
