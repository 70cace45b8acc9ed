"""The archive service in-process on the real parts: RabbitMQ, PostgreSQL and SeaweedFS (S3).

Each test runs the service's own runtime (migrations, bus, outbox relay, S3 bucket) and
observes it only from outside: raw AMQP messages in, its events on a queue of the test's
own, its database and its bucket.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aio_pika
import asyncpg
import httpx
import pytest
from minio import Minio

from archive.bootstrap import bootstrap
from archive.settings import ArchiveSettings
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from deploy.local.seaweed import SeaweedS3
from lre_shared.messages import (
    Document,
    DownloadLinkIssued,
    IssueDownloadLink,
    LetterDeposited,
    LetterRejected,
    SubmitLetter,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import EXCHANGES, Service, events_exchange

pytestmark = pytest.mark.integration


# --------------------------------------------------------------------------- helpers


@dataclass
class Probe:
    """A queue of the test's own, bound before anything is published, that keeps what arrives."""

    received: list[aio_pika.abc.AbstractIncomingMessage] = field(default_factory=list)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.received.append(message)

    def of(self, routing_key: str, letter_id: uuid.UUID) -> list[aio_pika.abc.AbstractIncomingMessage]:
        return [
            m for m in self.received if m.routing_key == routing_key and m.correlation_id == str(letter_id)
        ]

    async def wait_for(
        self, routing_key: str, letter_id: uuid.UUID, timeout: float = 20.0
    ) -> aio_pika.abc.AbstractIncomingMessage:
        await eventually(lambda: bool(self.of(routing_key, letter_id)), timeout)
        return self.of(routing_key, letter_id)[0]


@pytest.fixture
async def probe(amqp_url: str) -> AsyncIterator[Probe]:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    exchange = await declare_events_exchange(channel, Service.archive)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="letter.*.v1")
    found = Probe()
    await queue.consume(found._on_message, no_ack=True)
    yield found
    await connection.close()


async def declare_events_exchange(
    channel: aio_pika.abc.AbstractChannel, service: Service
) -> aio_pika.abc.AbstractExchange:
    """The service's events exchange, declared exactly as the bus declares it."""
    spec = next(spec for spec in EXCHANGES if spec.name == events_exchange(service))
    return await channel.declare_exchange(
        spec.name,
        aio_pika.ExchangeType(spec.kind),
        durable=True,
        arguments={"alternate-exchange": spec.alternate} if spec.alternate else None,
    )


async def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def publish_raw(amqp_url: str, exchange: str, routing_key: str, body: bytes, message_id: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        await target.publish(
            aio_pika.Message(body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=routing_key,
            mandatory=True,
        )


async def purge_queues(amqp_url: str, runtime: ServiceRuntime) -> None:
    """Empty the service's queues left in the session's virtual host by earlier tests."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for sub in runtime.bus.subscriptions:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(sub.queue, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue
            await queue.purge()
            await channel.close()


@dataclass(frozen=True)
class Archive:
    runtime: ServiceRuntime
    settings: ArchiveSettings
    bucket: str
    s3: Minio

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.pool


def minio_client(s3: SeaweedS3) -> Minio:
    endpoint = s3.endpoint.removeprefix("http://").removeprefix("https://")
    return Minio(
        endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        secure=s3.endpoint.startswith("https://"),
        region="us-east-1",
    )


@pytest.fixture
async def archive(amqp_url: str, database_url: str, s3: SeaweedS3) -> AsyncIterator[Archive]:
    bucket = f"lre-test-{uuid.uuid4().hex[:12]}"
    settings = ArchiveSettings(
        amqp_url=amqp_url,
        database_url=database_url,
        http_port=0,
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        content_bucket=bucket,
        outbox_poll_seconds=0.2,
    )
    runtime = bootstrap(settings)
    await runtime.startup()
    try:
        await purge_queues(amqp_url, runtime)
        await runtime.bus.broker.start()
        try:
            yield Archive(runtime, settings, bucket, minio_client(s3))
        finally:
            await runtime.bus.broker.stop()
    finally:
        await runtime.after_shutdown()
        await asyncio.to_thread(_remove_bucket, minio_client(s3), bucket)


def _remove_bucket(client: Minio, bucket: str) -> None:
    if not client.bucket_exists(bucket):
        return
    for item in client.list_objects(bucket, recursive=True):
        if item.object_name is not None:
            client.remove_object(bucket, item.object_name)
    client.remove_bucket(bucket)


def submit_command(content: bytes, letter_id: uuid.UUID | None = None) -> SubmitLetter:
    return SubmitLetter(
        correlation_id=letter_id or uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="mise-en-demeure.pdf", content=content),
    )


async def submit(amqp_url: str, command: SubmitLetter) -> None:
    await publish_raw(
        amqp_url, command.exchange, command.routing_key, command.to_json(), str(command.message_id)
    )


def object_keys(client: Minio, bucket: str, prefix: str = "") -> list[str]:
    return [
        item.object_name
        for item in client.list_objects(bucket, prefix=prefix, recursive=True)
        if item.object_name is not None
    ]


def read_object(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


async def deposit(amqp_url: str, archive: Archive, probe: Probe, pdf: bytes) -> LetterDeposited:
    command = submit_command(pdf)
    await submit(amqp_url, command)
    message = await probe.wait_for(LetterDeposited.routing_key, command.correlation_id)
    return LetterDeposited.model_validate_json(message.body)


async def ask_for_link(archive: Archive, query: IssueDownloadLink) -> DownloadLinkIssued:
    response = await archive.runtime.bus.broker.request(
        query.to_json(),
        exchange=query.exchange,
        routing_key=query.routing_key,
        correlation_id=str(query.message_id),
        message_id=str(query.message_id),
        content_type="application/json",
        timeout=10.0,
    )
    return DownloadLinkIssued.model_validate_json(response.body)


# ----------------------------------------------------------------------------- tests


async def test_a_valid_pdf_is_stored_in_s3_under_its_sha256_and_announced_with_a_12_digit_item_number(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    pdf = demo_pdf("Mise en demeure " + uuid.uuid4().hex)
    digest = hashlib.sha256(pdf).hexdigest()
    command = submit_command(pdf)

    await submit(amqp_url, command)
    message = await probe.wait_for(LetterDeposited.routing_key, command.correlation_id)

    event = LetterDeposited.model_validate_json(message.body)
    assert event.correlation_id == command.correlation_id
    assert [d.sha256 for d in event.documents] == [digest]
    assert event.documents[0].size == len(pdf)
    assert event.recipient == DEMO_RECIPIENT
    assert event.verification_policy == "default"

    row = await archive.pool.fetchrow(
        "SELECT item_number, sender_id FROM letters WHERE letter_id = $1", command.correlation_id
    )
    assert row is not None
    assert re.fullmatch(r"[0-9]{12}", row["item_number"])
    assert row["item_number"] == event.item_number
    assert row["sender_id"] == DEMO_SENDER.id

    keys = await asyncio.to_thread(object_keys, archive.s3, archive.bucket)
    assert len(keys) == 1
    assert digest in keys[0]
    assert str(command.correlation_id) in keys[0]
    stored = await asyncio.to_thread(read_object, archive.s3, archive.bucket, keys[0])
    assert stored == pdf
    object_key = await archive.pool.fetchval(
        "SELECT object_key FROM documents WHERE letter_id = $1 AND sha256 = $2",
        command.correlation_id,
        digest,
    )
    assert object_key == keys[0]


async def test_non_pdf_bytes_are_rejected_naming_the_field_and_nothing_is_stored(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    command = submit_command(b"PK\x03\x04 this is a zip archive, not a PDF")

    await submit(amqp_url, command)
    message = await probe.wait_for(LetterRejected.routing_key, command.correlation_id)

    rejected = LetterRejected.model_validate_json(message.body)
    assert rejected.sender_id == DEMO_SENDER.id
    assert [p.field for p in rejected.problems] == ["main_document.content"]
    assert "PDF" in rejected.problems[0].reason
    assert not probe.of(LetterDeposited.routing_key, command.correlation_id)
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 0
    assert await archive.pool.fetchval("SELECT count(*) FROM documents") == 0
    assert await asyncio.to_thread(object_keys, archive.s3, archive.bucket) == []


async def test_the_same_submit_letter_delivered_twice_creates_one_letter(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    command = submit_command(demo_pdf("Deux fois " + uuid.uuid4().hex))

    await submit(amqp_url, command)
    await submit(amqp_url, command)  # the same message_id: a redelivery
    stats = archive.runtime.bus.stats
    await eventually(lambda: stats.handled + stats.duplicates + stats.dead_lettered >= 2)
    await probe.wait_for(LetterDeposited.routing_key, command.correlation_id)
    await asyncio.sleep(0.5)  # give a second event, if any, the time to arrive

    assert stats.duplicates == 1
    assert stats.dead_lettered == 0
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 1
    assert await archive.pool.fetchval("SELECT count(*) FROM documents") == 1
    assert len(probe.of(LetterDeposited.routing_key, command.correlation_id)) == 1
    assert len(await asyncio.to_thread(object_keys, archive.s3, archive.bucket)) == 1


async def test_a_download_link_asked_by_request_reply_serves_the_deposited_bytes(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    pdf = demo_pdf("A telecharger " + uuid.uuid4().hex)
    event = await deposit(amqp_url, archive, probe, pdf)
    document = event.documents[0]

    reply = await ask_for_link(
        archive, IssueDownloadLink(correlation_id=event.correlation_id, document_id=document.document_id)
    )

    assert reply.correlation_id == event.correlation_id
    assert reply.document_id == document.document_id
    assert reply.url.startswith(archive.settings.s3_endpoint)
    assert reply.expires_at is not None
    assert reply.reason is None
    async with httpx.AsyncClient() as client:
        download = await client.get(reply.url)
    assert download.status_code == 200
    assert download.content == pdf
    assert "mise-en-demeure.pdf" in download.headers.get("content-disposition", "")
    first_link_at = await archive.pool.fetchval(
        "SELECT first_link_at FROM documents WHERE document_id = $1", document.document_id
    )
    assert first_link_at is not None


async def test_a_download_link_for_an_unknown_document_is_empty_with_a_reason(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    event = await deposit(amqp_url, archive, probe, demo_pdf("Autre " + uuid.uuid4().hex))
    query = IssueDownloadLink(correlation_id=event.correlation_id, document_id=uuid.uuid4())

    reply = await ask_for_link(archive, query)

    assert reply.url == ""
    assert reply.expires_at is None
    assert reply.reason
    assert reply.document_id == query.document_id


async def test_a_known_document_asked_under_another_letter_id_gets_no_link(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    event = await deposit(amqp_url, archive, probe, demo_pdf("Cloisonne " + uuid.uuid4().hex))
    query = IssueDownloadLink(correlation_id=uuid.uuid4(), document_id=event.documents[0].document_id)

    reply = await ask_for_link(archive, query)

    assert reply.url == ""
    assert reply.reason


async def test_a_second_deposit_reusing_a_letter_id_is_dead_lettered_and_keeps_the_first(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    first = submit_command(demo_pdf("Premier " + uuid.uuid4().hex))
    event = await deposit_command(amqp_url, probe, first)
    second = submit_command(demo_pdf("Second " + uuid.uuid4().hex), letter_id=first.correlation_id)

    await submit(amqp_url, second)
    stats = archive.runtime.bus.stats
    await eventually(lambda: stats.dead_lettered >= 1)

    rows = await archive.pool.fetch("SELECT item_number FROM letters")
    assert [r["item_number"] for r in rows] == [event.item_number]
    digests = await archive.pool.fetch("SELECT sha256 FROM documents")
    assert [r["sha256"] for r in digests] == [hashlib.sha256(first.main_document.content).hexdigest()]
    assert len(probe.of(LetterDeposited.routing_key, first.correlation_id)) == 1
    assert len(await asyncio.to_thread(object_keys, archive.s3, archive.bucket)) == 1


async def deposit_command(amqp_url: str, probe: Probe, command: SubmitLetter) -> LetterDeposited:
    await submit(amqp_url, command)
    message = await probe.wait_for(LetterDeposited.routing_key, command.correlation_id)
    return LetterDeposited.model_validate_json(message.body)
