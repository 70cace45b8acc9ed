"""A malformed message reaching a running service lands in the dead-letter queue with its
reason; the queue is not blocked and the next valid message is processed."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import asyncpg
import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from lre_shared.contracts import LetterDeposited, StoredDocument, now_utc
from lre_shared.topology import DLQ_REASON_HEADER, Service, dead_letter_queue, queue_name
from tests.support.bus import publish_raw
from tests.support.running import RunningPlatform

pytestmark = pytest.mark.e2e

QUEUE = queue_name(Service.signer, LetterDeposited)


async def test_a_malformed_message_is_dead_lettered_with_its_reason_and_the_next_is_processed(
    services: RunningPlatform,
) -> None:
    amqp_url = services.amqp_url
    services.start("signer")
    poison_id = f"poison-{uuid.uuid4().hex[:8]}"
    await publish_raw(
        amqp_url,
        LetterDeposited.exchange,
        LetterDeposited.routing_key,
        b'{"item_number": "not a number"}',
        poison_id,
    )
    valid = LetterDeposited(
        correlation_id=uuid.uuid4(),
        item_number="123456789015",
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        documents=(StoredDocument(document_id=uuid.uuid4(), filename="a.pdf", size=3, sha256="a" * 64),),
        verification_policy="default",
        deposited_at=now_utc(),
    )
    await publish_raw(
        amqp_url,
        LetterDeposited.exchange,
        LetterDeposited.routing_key,
        valid.to_json(),
        str(valid.message_id),
    )

    conn = await asyncpg.connect(services.database_url("signer"))
    try:
        for _ in range(300):
            if await conn.fetchval(
                "SELECT count(*) FROM evidence WHERE letter_id = $1", valid.correlation_id
            ):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the valid message after the poison one was not processed")
    finally:
        await conn.close()

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.declare_queue(dead_letter_queue(QUEUE), passive=True)
        found = None
        for _ in range(100):
            message = await dlq.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.1)
                continue
            if message.message_id == poison_id:
                found = message
                break
    assert found is not None, "the poison message is not in the dead-letter queue"
    reason = str(found.headers[DLQ_REASON_HEADER])
    assert reason.startswith("malformed LetterDeposited")
    assert "item_number" in reason
    assert "sender" in reason  # a missing required field is named too
