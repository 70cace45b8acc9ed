"""send_notice with a fake mailer and a fake transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest

from lre_shared.messages import (
    LetterDeposited,
    Message,
    NoticeFailed,
    NoticeSent,
    Recipient,
    Sender,
    SendNotice,
    StoredDocument,
)
from notifier.adapters.email import PermanentDeliveryError, TransientDeliveryError
from notifier.service_layer.handlers import send_notice

PICKUP_URL = "https://pickup.lre.example"


@dataclass
class FakeConn:
    executed: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    async def execute(self, sql: str, *args: Any) -> str:
        self.executed.append((sql, args))
        return "INSERT 0 1"


@dataclass
class FakeTransaction:
    conn: FakeConn = field(default_factory=FakeConn)
    published: list[Message] = field(default_factory=list)

    async def publish(self, message: Message) -> None:
        self.published.append(message)


@dataclass
class FakeMailer:
    error: Exception | None = None
    sent: list[dict[str, str]] = field(default_factory=list)

    async def send(self, to: str, subject: str, text: str, html: str) -> str:
        self.sent.append({"to": to, "subject": subject, "text": text, "html": html})
        if self.error is not None:
            raise self.error
        return "<provider-42@mail.example>"


def a_command() -> SendNotice:
    return SendNotice(
        correlation_id=uuid4(),
        item_number="799273987130",
        address="camille.martin@exemple.example",
        deadline=date(2025, 3, 16),
    )


async def run(command: SendNotice, tx: FakeTransaction, mailer: FakeMailer) -> Message | None:
    return await send_notice(command, tx, mailer=mailer, pickup_url=PICKUP_URL)  # type: ignore[arg-type]


async def test_a_delivered_notice_publishes_notice_sent() -> None:
    command = a_command()
    tx = FakeTransaction()

    result = await run(command, tx, FakeMailer())

    assert result is None
    [event] = tx.published
    assert isinstance(event, NoticeSent)
    assert event.notice_id == command.message_id
    assert event.correlation_id == command.correlation_id
    assert event.item_number == command.item_number
    assert event.address == command.address
    assert event.provider_message_id == "<provider-42@mail.example>"


async def test_the_mailer_receives_the_rendered_notice_for_the_recipient() -> None:
    command = a_command()
    mailer = FakeMailer()

    await run(command, FakeTransaction(), mailer)

    [mail] = mailer.sent
    assert mail["to"] == command.address
    assert command.item_number in mail["text"]
    assert "16/03/2025" in mail["html"]
    assert PICKUP_URL + "/" in mail["text"]


async def test_a_delivered_notice_is_recorded_as_sent() -> None:
    tx = FakeTransaction()

    await run(a_command(), tx, FakeMailer())

    [(sql, args)] = tx.conn.executed
    assert "delivery_attempts" in sql
    assert args[4:] == ("sent", None, "<provider-42@mail.example>")


async def test_a_permanent_failure_publishes_notice_failed_permanent() -> None:
    command = a_command()
    tx = FakeTransaction()

    await run(command, tx, FakeMailer(error=PermanentDeliveryError("SMTP 550: no such user")))

    [event] = tx.published
    assert isinstance(event, NoticeFailed)
    assert event.permanent is True
    assert event.reason == "SMTP 550: no such user"
    assert event.notice_id == command.message_id
    assert event.correlation_id == command.correlation_id


async def test_a_permanent_failure_is_recorded_as_failed() -> None:
    tx = FakeTransaction()

    await run(a_command(), tx, FakeMailer(error=PermanentDeliveryError("SMTP 550: no such user")))

    [(_, args)] = tx.conn.executed
    assert args[4:6] == ("failed", "SMTP 550: no such user")


async def test_a_transient_failure_propagates_so_the_bus_retries() -> None:
    tx = FakeTransaction()

    with pytest.raises(TransientDeliveryError):
        await run(a_command(), tx, FakeMailer(error=TransientDeliveryError("SMTP 421: try later")))

    assert tx.published == []
    assert tx.conn.executed == []


async def test_a_notice_for_a_letter_from_cabinet_dupont_never_mentions_dupont() -> None:
    deposited = LetterDeposited(
        correlation_id=uuid4(),
        item_number="799273987130",
        sender=Sender(id="cabinet-dupont", name="Cabinet Dupont", email="greffe@dupont-avocats.example"),
        recipient=Recipient(
            last_name="Martin",
            first_name="Camille",
            address="12 avenue de l'Opéra",
            postcode="75001",
            city="Paris",
            email="camille.martin@exemple.example",
        ),
        documents=(StoredDocument(document_id=uuid4(), filename="dupont.pdf", size=1, sha256="0" * 64),),
        verification_policy="default",
        deposited_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
    )
    # As pickup builds it from the deposit: the command has no field for the sender.
    command = SendNotice(
        correlation_id=deposited.correlation_id,
        item_number=deposited.item_number,
        address=deposited.recipient.email,
        deadline=date(2025, 3, 16),
    )
    tx, mailer = FakeTransaction(), FakeMailer()

    await run(command, tx, mailer)

    [mail] = mailer.sent
    assert "dupont" not in " ".join(mail.values()).lower()
    assert "dupont" not in command.to_json().decode().lower()
    assert all("dupont" not in message.to_json().decode().lower() for message in tx.published)
