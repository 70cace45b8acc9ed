"""One-time signing codes: by email or SMS only, the code and its expiry, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from lre_shared.contracts import CodeFailed, CodeSent, SendCode
from notifier.adapters.channels import UnconfiguredChannel
from notifier.domain.code import code_text
from notifier.domain.delivery import TransientDeliveryError
from notifier.domain.gsm7 import is_gsm7, segments
from notifier.service_layer.handlers import send_code

from .fakes import FakeMailer, FakeTexts, InMemoryAttemptLog, InMemoryUnitOfWork

EXPIRES = datetime(2025, 3, 16, 15, 30, tzinfo=UTC)


def a_code(**fields: Any) -> SendCode:
    values: dict[str, Any] = {
        "correlation_id": uuid4(),
        "channel": "sms",
        "address": "+33612345678",
        "code": "482913",
        "expires_at": EXPIRES,
    }
    return SendCode(**(values | fields))


async def run(command: SendCode, uow: InMemoryUnitOfWork, **ports: Any) -> None:
    await send_code(
        command,
        uow,
        mailer=ports.get("mailer", FakeMailer()),
        texts=ports.get("texts", FakeTexts()),
        attempts=ports.get("attempts", InMemoryAttemptLog()),
    )


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_code_sms_is_one_gsm7_segment_with_the_code_and_paris_expiry(language: str) -> None:
    text = code_text("482913", EXPIRES, language).text  # type: ignore[arg-type]

    assert is_gsm7(text)
    assert segments(text) == 1
    assert "482913" in text and "16/03/2025 16:30" in text


async def test_a_code_by_sms_is_sent_and_answered_with_code_sent() -> None:
    uow, texts, attempts = InMemoryUnitOfWork(), FakeTexts(), InMemoryAttemptLog()

    await run(a_code(), uow, texts=texts, attempts=attempts)

    [(to, body)] = texts.sent
    assert to == "+33612345678" and "482913" in body
    [event] = uow.published
    assert isinstance(event, CodeSent)
    assert (event.channel, event.provider_message_id) == ("sms", "SM0002")
    assert [(a.outcome, a.kind) for a in attempts.recorded] == [("sent", "code")]


async def test_a_code_by_email_goes_through_the_mailer() -> None:
    uow, mailer = InMemoryUnitOfWork(), FakeMailer()

    await run(a_code(channel="email", address="camille.martin@exemple.example"), uow, mailer=mailer)

    [mail] = mailer.sent
    assert mail.to == "camille.martin@exemple.example" and "482913" in mail.text
    assert isinstance(uow.published[0], CodeSent)


async def test_a_code_by_sms_without_twilio_fails_for_good_naming_the_settings() -> None:
    uow = InMemoryUnitOfWork()

    await run(a_code(), uow, texts=UnconfiguredChannel("sms", ("NOTIFIER_TWILIO_ACCOUNT_SID",)))

    [event] = uow.published
    assert isinstance(event, CodeFailed)
    assert "NOTIFIER_TWILIO_ACCOUNT_SID" in event.reason


async def test_a_transient_failure_is_recorded_and_retried_by_the_bus() -> None:
    uow, attempts = InMemoryUnitOfWork(), InMemoryAttemptLog()
    texts = FakeTexts(TransientDeliveryError("Twilio HTTP 503"))

    with pytest.raises(TransientDeliveryError):
        await run(a_code(), uow, texts=texts, attempts=attempts)

    assert uow.published == []
    assert [a.outcome for a in attempts.recorded] == ["deferred"]


def test_a_code_cannot_be_sent_by_voice_or_fax() -> None:
    with pytest.raises(ValueError, match="channel"):
        a_code(channel="voice")
