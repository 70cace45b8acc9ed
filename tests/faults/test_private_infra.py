"""The fault runs' own infrastructure (tests/support/private_infra.py) does what the runs rely
on: a restarted or killed part comes back with what it held, and nothing of it is the
machine's shared RabbitMQ or PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aio_pika
import aiosmtplib
import asyncpg
import pytest

from tests.support.private_infra import PrivateInfra, private_infra

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateInfra]:
    with private_infra(tmp_path_factory.mktemp("private-infra")) as infra:
        yield infra


async def _publish_confirmed(amqp_url: str, queue: str, body: bytes) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
        # RabbitMQ 3.10 makes a new quorum queue's member durable a moment after declaring it: a
        # node SIGKILLed within that moment comes back with the queue but an empty log (seen
        # here). The platform's queues exist from its services' start, long before any fault.
        await asyncio.sleep(3)
        await channel.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=queue
        )


async def _take(amqp_url: str, queue: str) -> bytes | None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        try:
            message = await declared.get(no_ack=True, fail=False, timeout=30)
        except TimeoutError:
            return None  # the queue's member still recovering
        return None if message is None else message.body


@pytest.mark.parametrize("hard", [False, True], ids=["restarted", "killed"])
async def test_a_confirmed_message_on_a_quorum_queue_outlives_the_private_node(
    own: PrivateInfra, hard: bool
) -> None:
    queue = f"harness.{uuid.uuid4().hex[:8]}"
    body = uuid.uuid4().bytes
    await _publish_confirmed(own.rabbit.amqp_url, queue, body)

    pid = own.rabbit.process.pid if own.rabbit.process else None
    await asyncio.to_thread(own.rabbit.restart, 0.0, hard)

    assert own.rabbit.process is not None and own.rabbit.process.pid != pid
    # A quorum queue answers once its member has recovered its log, shortly after the node.
    taken = None
    for _ in range(60):
        if (taken := await _take(own.rabbit.amqp_url, queue)) is not None:
            break
        await asyncio.sleep(0.5)
    assert taken == body


def test_the_private_node_is_not_the_machines_broker(own: PrivateInfra) -> None:
    assert own.rabbit.amqp_port != 5672
    assert own.rabbit.nodename != "rabbit@localhost"
    overview = own.rabbit.api("overview")
    assert overview["node"] == own.rabbit.nodename
    # Its file-handle limit is the hard limit, not the default that quorum queues exhaust.
    shown = own.rabbit.ctl("-q", "eval", "file_handle_cache:info().")
    assert "total_limit" in shown
    limit = int(shown.split("{total_limit,")[1].split("}")[0])
    assert limit > 4000


@pytest.mark.parametrize("hard", [False, True], ids=["restarted", "killed"])
async def test_a_committed_row_outlives_the_private_cluster(own: PrivateInfra, hard: bool) -> None:
    assert own.postgres.port != 5432
    conn = await asyncpg.connect(own.postgres.url + "/postgres")
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS harness (value uuid PRIMARY KEY)")
        value = uuid.uuid4()
        await conn.execute("INSERT INTO harness VALUES ($1)", value)
    finally:
        await conn.close()

    await asyncio.to_thread(own.postgres.restart, 0.0, hard)

    conn = await asyncpg.connect(own.postgres.url + "/postgres")
    try:
        assert await conn.fetchval("SELECT count(*) FROM harness WHERE value = $1", value) == 1
    finally:
        await conn.close()


def test_a_stored_object_outlives_a_restart_of_the_store_on_the_same_endpoint(own: PrivateInfra) -> None:
    endpoint = own.seaweed.s3.endpoint
    client = own.seaweed.s3.client()
    bucket = f"harness-{uuid.uuid4().hex[:8]}"
    client.make_bucket(bucket)
    client.put_object(bucket, "kept", io.BytesIO(b"still here"), 10)

    own.seaweed.restart()

    assert own.seaweed.s3.endpoint == endpoint
    response = own.seaweed.s3.client().get_object(bucket, "kept")
    try:
        assert response.read() == b"still here"
    finally:
        response.close()
        response.release_conn()


async def test_the_smtp_switch_refuses_for_a_while_then_accepts(own: PrivateInfra, tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"] = "notifications@lre.localhost"
    message["To"] = address = f"harness-{uuid.uuid4().hex[:8]}@exemple.example"
    message["Subject"] = "harness"
    message.set_content("x")
    smtp = own.smtp

    smtp.refuse_for(1.5)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(message, hostname=smtp.host, port=smtp.port)
    assert refused.value.recipients[0].code == 451  # transient: the sender keeps it and retries
    assert not [m for m in smtp.store.messages if m["To"] == address]

    await asyncio.sleep(1.6)
    await aiosmtplib.send(message, hostname=smtp.host, port=smtp.port)
    assert len([m for m in smtp.store.messages if m["To"] == address]) == 1
