"""One-time signing codes: by email or SMS only, the code and its expiry, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from lre_shared.messages import CodeFailed, CodeSent, SendCode
from notifier.adapters.channels import UnconfiguredChannel
from notifier.domain.code import code_text
from notifier.domain.delivery import TransientDeliveryError
from notifier.domain.gsm7 import is_gsm7, segments
from notifier.service_layer.handlers import send_code

from .test_notifier_handlers import FakeAttempts, FakeMailer, FakeTransaction

EXPIRES = datetime(2025, 3, 16, 15, 30, tzinfo=UTC)


@dataclass
class FakeTexts:
    error: Exception | None = None
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send_text(self, to: str, body: str) -> str:
        self.sent.append((to, body))
        if self.error is not None:
            raise self.error
        return "SM0002"


def a_code(**fields: Any) -> SendCode:
    values: dict[str, Any] = {
        "correlation_id": uuid4(),
        "channel": "sms",
        "address": "+33612345678",
        "code": "482913",
        "expires_at": EXPIRES,
    }
    return SendCode(**(values | fields))


async def run(command: SendCode, tx: FakeTransaction, **ports: Any) -> None:
    await send_code(
        command,
        tx,  # type: ignore[arg-type]
        mailer=ports.get("mailer", FakeMailer()),
        texts=ports.get("texts", FakeTexts()),
        attempts=ports.get("attempts", FakeAttempts()),
    )


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_code_sms_is_one_gsm7_segment_with_the_code_and_paris_expiry(language: str) -> None:
    text = code_text("482913", EXPIRES, language).text  # type: ignore[arg-type]

    assert is_gsm7(text)
    assert segments(text) == 1
    assert "482913" in text and "16/03/2025 16:30" in text


async def test_a_code_by_sms_is_sent_and_answered_with_code_sent() -> None:
    tx, texts, attempts = FakeTransaction(), FakeTexts(), FakeAttempts()

    await run(a_code(), tx, texts=texts, attempts=attempts)

    [(to, body)] = texts.sent
    assert to == "+33612345678" and "482913" in body
    [event] = tx.published
    assert isinstance(event, CodeSent)
    assert (event.channel, event.provider_message_id) == ("sms", "SM0002")
    assert [(a.outcome, a.kind) for a in attempts.recorded] == [("sent", "code")]


async def test_a_code_by_email_goes_through_the_mailer() -> None:
    tx, mailer = FakeTransaction(), FakeMailer()

    await run(a_code(channel="email", address="camille.martin@exemple.example"), tx, mailer=mailer)

    [mail] = mailer.sent
    assert mail.to == "camille.martin@exemple.example" and "482913" in mail.text
    assert isinstance(tx.published[0], CodeSent)


async def test_a_code_by_sms_without_twilio_fails_for_good_naming_the_settings() -> None:
    tx = FakeTransaction()

    await run(a_code(), tx, texts=UnconfiguredChannel("sms", ("NOTIFIER_TWILIO_ACCOUNT_SID",)))

    [event] = tx.published
    assert isinstance(event, CodeFailed)
    assert "NOTIFIER_TWILIO_ACCOUNT_SID" in event.reason


async def test_a_transient_failure_is_recorded_and_retried_by_the_bus() -> None:
    tx, attempts = FakeTransaction(), FakeAttempts()

    with pytest.raises(TransientDeliveryError):
        await run(a_code(), tx, texts=FakeTexts(TransientDeliveryError("Twilio HTTP 503")), attempts=attempts)

    assert tx.published == []
    assert [a.outcome for a in attempts.recorded] == ["deferred"]


def test_a_code_cannot_be_sent_by_voice_or_fax() -> None:
    with pytest.raises(ValueError, match="channel"):
        a_code(channel="voice")
