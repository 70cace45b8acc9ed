"""What a sender system needs to deposit a letter: one call, or one command.

    lre-send --amqp-url amqp://... --sender-id acme --sender-name "ACME SAS" \\
        --sender-email legal@acme.example --recipient-json recipient.json letter.pdf \\
        [--attachment annex.pdf ...] [--alert-channel sms ...] [--idempotency-key KEY]

The command is published persistent, confirmed and mandatory to the archive's command
exchange; the outcome (`LetterDeposited` or `LetterRejected`) follows on the archive's
event exchange, correlated by the letter id printed here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from uuid import UUID, uuid4

from faststream.rabbit import Channel, RabbitBroker

from lre_shared import outbox
from lre_shared.messages import (
    Document,
    NoticeChannel,
    SubmitLetter,
    SubmittedRecipient,
    SubmittedSender,
)


async def submit_letter(amqp_url: str, command: SubmitLetter) -> UUID:
    """Publish `command` and return the letter id once the broker has confirmed it."""
    broker = RabbitBroker(
        amqp_url, default_channel=Channel(publisher_confirms=True, on_return_raises=True), logger=None
    )
    await broker.connect()
    try:
        message = outbox.outgoing(command)
        await broker.publish(
            message.body,
            exchange=message.exchange,
            routing_key=message.routing_key,
            persist=True,
            mandatory=True,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type="application/json",
            timeout=30.0,
        )
    finally:
        await broker.stop()
    return command.correlation_id


def build_command(
    sender: SubmittedSender,
    recipient: SubmittedRecipient,
    pdf: Path,
    letter_id: UUID | None = None,
    *,
    attachments: tuple[Path, ...] = (),
    alert_channels: tuple[NoticeChannel, ...] = (NoticeChannel.email,),
    idempotency_key: str | None = None,
) -> SubmitLetter:
    return SubmitLetter(
        correlation_id=letter_id or uuid4(),
        sender=sender,
        recipient=recipient,
        main_document=Document(filename=pdf.name, content=pdf.read_bytes()),
        attachments=tuple(Document(filename=p.name, content=p.read_bytes()) for p in attachments),
        alert_channels=alert_channels,
        idempotency_key=idempotency_key,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lre-send", description="Deposit a registered letter.")
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--sender-id", required=True)
    parser.add_argument("--sender-name", required=True)
    parser.add_argument("--sender-email", required=True)
    parser.add_argument("--sender-siret")
    parser.add_argument("--recipient-json", required=True, type=Path, help="recipient as JSON")
    parser.add_argument("--attachment", action="append", default=[], type=Path, help="repeatable")
    parser.add_argument(
        "--alert-channel",
        action="append",
        default=[],
        choices=[c.value for c in NoticeChannel],
        help="repeatable; email is always used",
    )
    parser.add_argument("--idempotency-key", help="the same key twice gives the same letter")
    parser.add_argument("pdf", type=Path)
    args = parser.parse_args(argv)
    sender = SubmittedSender(
        id=args.sender_id, name=args.sender_name, email=args.sender_email, siret=args.sender_siret
    )
    # The archive checks the recipient and answers with every problem by field (LetterRejected).
    recipient = SubmittedRecipient.model_validate(json.loads(args.recipient_json.read_text()))
    command = build_command(
        sender,
        recipient,
        args.pdf,
        attachments=tuple(args.attachment),
        alert_channels=(NoticeChannel.email, *(NoticeChannel(c) for c in args.alert_channel)),
        idempotency_key=args.idempotency_key,
    )
    letter_id = asyncio.run(submit_letter(args.amqp_url, command))
    print(letter_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
