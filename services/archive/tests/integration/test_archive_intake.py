"""The archive service in-process on the real parts: RabbitMQ, PostgreSQL and SeaweedFS (S3).

Each test runs the service's own runtime (migrations, bus, outbox relay, S3 bucket) and
observes it only from outside: raw AMQP messages in, its events on a queue of the test's
own, its database and its bucket.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import tracemalloc
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error

from archive.adapters.postgres import unit_of_work
from archive.adapters.storage import BucketError, IntegrityError, S3Buckets, S3ContentStore
from archive.adapters.zipstream import ZipEntry, stream_zip
from archive.bootstrap import bootstrap, bucket_plan, http_site
from archive.service_layer.handlers import letter_zip_entries
from archive.settings import ArchiveSettings
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from deploy.local.seaweed import SeaweedS3
from lre_shared import objects
from lre_shared.bus import Transaction, broker_user
from lre_shared.contracts import (
    Document,
    DownloadLinkIssued,
    IssueDownloadLink,
    LetterAccepted,
    LetterDeposited,
    LetterRejected,
    SubmitLetter,
    SubmittedRecipient,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import EXCHANGES, Service, events_exchange
from services.archive.tests.integration.served import remove_bucket, signed_receipt
from tests.support import bus as support
from tests.support.bus import purge_queues
from tests.support.documents import encrypted, one_byte_changed, pdf_of_at_least

pytestmark = pytest.mark.integration

DOCUMENT_LIMIT = 200_000
LETTER_LIMIT = 300_000


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
            aio_pika.Message(
                body,
                message_id=message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                user_id=broker_user(amqp_url),  # the platform's own user, trusted to act for any sender
            ),
            routing_key=routing_key,
            mandatory=True,
        )


@dataclass(frozen=True)
class Archive:
    runtime: ServiceRuntime
    settings: ArchiveSettings
    bucket: str
    s3: Minio

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.pool


@pytest.fixture
async def archive(amqp_url: str, database_url: str, s3: SeaweedS3) -> AsyncIterator[Archive]:
    bucket = f"lre-test-{uuid.uuid4().hex[:12]}"
    settings = ArchiveSettings(
        evidence_bucket=f"{bucket}-evidence",
        identity_bucket=f"{bucket}-identity",
        amqp_url=amqp_url,
        database_url=database_url,
        http_port=0,
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        content_bucket=bucket,
        outbox_poll_seconds=0.2,
        zip_link_key=uuid.uuid4().hex,
        webhook_secrets_key=uuid.uuid4().hex,
        senders=frozenset({DEMO_SENDER.id}),
        trusted_publishers=(broker_user(amqp_url),),  # the tests publish as the platform's user
        max_document_bytes=DOCUMENT_LIMIT,
        max_letter_bytes=LETTER_LIMIT,
        max_embedded_bytes=DOCUMENT_LIMIT,
        max_attachments=2,
    )
    runtime = bootstrap(settings)
    await runtime.startup()
    try:
        await purge_queues(amqp_url, runtime)
        await runtime.bus.broker.start()
        try:
            yield Archive(runtime, settings, bucket, s3.client())
        finally:
            await runtime.bus.broker.stop()
    finally:
        await runtime.shutdown()
        await runtime.after_shutdown()
        for name in (bucket, settings.evidence_bucket, settings.identity_bucket):
            await asyncio.to_thread(remove_bucket, s3.client(), name)


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


async def receipt_signed(archive: Archive, letter_id: uuid.UUID) -> bool:
    signed = await archive.pool.fetchval(
        "SELECT receipt_signed_at FROM letters WHERE letter_id = $1", letter_id
    )
    return signed is not None


async def ask_for_link(archive: Archive, query: IssueDownloadLink) -> DownloadLinkIssued:
    return await archive.runtime.bus.ask(query, DownloadLinkIssued, timeout=10.0)


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
    now = datetime.now(UTC)
    await support.publish(
        amqp_url,
        LetterAccepted(correlation_id=event.correlation_id, item_number=event.item_number, accepted_at=now),
        signed_receipt(event, now),
    )
    await support.eventually(lambda: receipt_signed(archive, event.correlation_id))

    reply = await ask_for_link(
        archive, IssueDownloadLink(correlation_id=event.correlation_id, document_id=document.document_id)
    )

    assert reply.correlation_id == event.correlation_id
    assert reply.document_id == document.document_id
    # A link to the archive itself, which checks the bytes as it serves them.
    assert reply.url.startswith(f"http://127.0.0.1:{archive.settings.http_port}/letters/")
    assert reply.expires_at is not None
    assert reply.reason is None
    site = http_site(archive.runtime, archive.settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site)) as client:
        download = await client.get(reply.url)
    assert download.status_code == 200
    assert download.content == pdf
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-length"] == str(len(pdf))
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


# ---------------------------------------------------------------- refusal reasons


def big_pdf(size: int) -> bytes:
    """A readable PDF of at least `size` bytes: a long line of text."""
    return pdf_of_at_least(size)


def with_changes(**changes: Any) -> SubmitLetter:
    return submit_command(demo_pdf("Refus " + uuid.uuid4().hex)).model_copy(update=changes)


def recipient(**changes: Any) -> SubmittedRecipient:
    return SubmittedRecipient.model_validate({**DEMO_RECIPIENT.model_dump(), **changes})


REFUSALS: dict[str, tuple[Callable[[], SubmitLetter], str, str]] = {
    "unknown-sender": (
        lambda: with_changes(sender=DEMO_SENDER.model_copy(update={"id": "not-registered"})),
        "sender.id",
        "unknown sender 'not-registered'",
    ),
    "invalid-siret": (
        lambda: with_changes(sender=DEMO_SENDER.model_copy(update={"siret": "73282932000075"})),
        "sender.siret",
        "not a valid SIRET",
    ),
    "missing-recipient-name": (
        lambda: with_changes(recipient=recipient(last_name="")),
        "recipient.last_name",
        "missing",
    ),
    "missing-recipient-email": (
        lambda: with_changes(recipient=recipient(email="")),
        "recipient.email",
        "missing",
    ),
    "malformed-email": (
        lambda: with_changes(recipient=recipient(email="camille.martin.exemple.example")),
        "recipient.email",
        "not a valid email address",
    ),
    "malformed-phone": (
        lambda: with_changes(recipient=recipient(mobile="06 12 34 56 78")),
        "recipient.mobile",
        "E.164",
    ),
    "not-a-pdf": (
        lambda: with_changes(main_document=Document(filename="l.pdf", content=b"PK\x03\x04 zip")),
        "main_document.content",
        "not a PDF",
    ),
    "encrypted-pdf": (
        lambda: with_changes(main_document=Document(filename="l.pdf", content=encrypted(demo_pdf()))),
        "main_document.content",
        "encrypted",
    ),
    "document-over-limit": (
        lambda: with_changes(main_document=Document(filename="l.pdf", content=big_pdf(DOCUMENT_LIMIT + 1))),
        "main_document.content",
        f"the limit is {DOCUMENT_LIMIT} bytes",
    ),
    "letter-over-limit": (
        lambda: with_changes(
            attachments=(
                Document(filename="a.pdf", content=big_pdf(DOCUMENT_LIMIT // 2 + 1)),
                Document(filename="b.pdf", content=big_pdf(DOCUMENT_LIMIT // 2 + 2)),
            ),
            main_document=Document(filename="l.pdf", content=big_pdf(DOCUMENT_LIMIT // 2)),
        ),
        "documents",
        f"the limit is {LETTER_LIMIT} bytes",
    ),
    "too-many-attachments": (
        lambda: with_changes(
            attachments=tuple(Document(filename=f"a{i}.pdf", content=demo_pdf(str(i))) for i in range(3))
        ),
        "attachments",
        "the limit is 2",
    ),
}


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
async def test_each_refusal_reason_reaches_the_sender_by_field_and_nothing_is_kept(
    archive: Archive, probe: Probe, amqp_url: str, case: str
) -> None:
    build, field, reason = REFUSALS[case]
    command = build()

    await submit(amqp_url, command)
    message = await probe.wait_for(LetterRejected.routing_key, command.correlation_id)

    rejected = LetterRejected.model_validate_json(message.body)
    assert [p.field for p in rejected.problems] == [field]
    assert reason in rejected.problems[0].reason
    assert rejected.sender_id == command.sender.id
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 0
    assert await asyncio.to_thread(object_keys, archive.s3, archive.bucket) == []
    assert archive.runtime.bus.stats.dead_lettered == 0


async def test_every_problem_comes_in_one_rejection_and_the_queue_goes_on(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    bad = with_changes(
        recipient=recipient(first_name="", email="nope", fax="123"),
        main_document=Document(filename="l.pdf", content=encrypted(demo_pdf())),
    )
    good = submit_command(demo_pdf("Apres un refus " + uuid.uuid4().hex))

    await submit(amqp_url, bad)
    await submit(amqp_url, good)
    await probe.wait_for(LetterDeposited.routing_key, good.correlation_id)
    message = await probe.wait_for(LetterRejected.routing_key, bad.correlation_id)

    rejected = LetterRejected.model_validate_json(message.body)
    assert [p.field for p in rejected.problems] == [
        "recipient.first_name",
        "recipient.email",
        "recipient.fax",
        "main_document.content",
    ]
    assert len(probe.of(LetterRejected.routing_key, bad.correlation_id)) == 1


def unparsable(**changes: Any) -> tuple[uuid.UUID, bytes]:
    """A deposit as JSON, changed so that it no longer parses as a `SubmitLetter`."""
    body = json.loads(submit_command(demo_pdf("Mal forme " + uuid.uuid4().hex)).to_json())
    body.update(changes)
    return uuid.UUID(body["correlation_id"]), json.dumps(
        {k: v for k, v in body.items() if v is not None}
    ).encode()


async def test_a_deposit_that_does_not_parse_is_refused_to_its_sender_by_field_once(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    """Not even a `SubmitLetter` (an unknown channel, a file name too long, no main document):
    its sender, named in it, is told why, field by field, as for any refusal; a redelivery
    tells it once."""
    letter_id, raw = unparsable(
        alert_channels=["email", "pigeon"],
        attachments=[{"filename": "x" * 201 + ".pdf", "content": "JVBERi0="}],
        idempotency_key="lot-7/42",
    )
    headless_id, headless = unparsable(main_document=None)
    message_id = str(uuid.uuid4())
    stats = archive.runtime.bus.stats

    await publish_raw(amqp_url, SubmitLetter.exchange, SubmitLetter.routing_key, raw, message_id)
    await publish_raw(amqp_url, SubmitLetter.exchange, SubmitLetter.routing_key, raw, message_id)
    await publish_raw(amqp_url, SubmitLetter.exchange, SubmitLetter.routing_key, headless, str(uuid.uuid4()))
    message = await probe.wait_for(LetterRejected.routing_key, letter_id)
    other = await probe.wait_for(LetterRejected.routing_key, headless_id)
    await eventually(lambda: stats.handled + stats.duplicates >= 3)
    await asyncio.sleep(0.5)  # a second rejection, if any, has the time to arrive

    rejected = LetterRejected.model_validate_json(message.body)
    assert rejected.sender_id == DEMO_SENDER.id
    assert rejected.idempotency_key == "lot-7/42"
    assert [(p.field, p.reason) for p in rejected.problems] == [
        ("attachments[0].filename", "String should have at most 200 characters"),
        ("alert_channels[1]", "Input should be 'email', 'sms', 'voice' or 'fax'"),
    ]
    [no_main] = LetterRejected.model_validate_json(other.body).problems
    assert no_main.field == "letter" and "main_document" in no_main.reason
    assert len(probe.of(LetterRejected.routing_key, letter_id)) == 1
    assert (stats.duplicates, stats.dead_lettered) == (1, 0)
    assert await archive.pool.fetchval("SELECT count(*) FROM rejections WHERE letter_id = $1", letter_id) == 1
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 0


async def test_a_deposit_naming_no_sender_or_no_letter_is_dead_lettered_with_its_reason(
    archive: Archive, amqp_url: str
) -> None:
    stats = archive.runtime.bus.stats
    for raw in (b'{"correlation_id": "not a uuid", "sender": {"id": "acme"}}', b"[1, 2]", b"not json"):
        await publish_raw(amqp_url, SubmitLetter.exchange, SubmitLetter.routing_key, raw, str(uuid.uuid4()))

    await eventually(lambda: stats.dead_lettered >= 3)
    assert stats.handled == 0


async def test_a_letter_with_attachments_is_stored_document_by_document(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    main, annex = demo_pdf("Lettre " + uuid.uuid4().hex), demo_pdf("Annexe " + uuid.uuid4().hex)
    command = submit_command(main).model_copy(
        update={"attachments": (Document(filename="annexe-1.pdf", content=annex),)}
    )

    event = await deposit_command(amqp_url, probe, command)

    assert [(d.role, d.filename, d.sha256) for d in event.documents] == [
        ("main", "mise-en-demeure.pdf", hashlib.sha256(main).hexdigest()),
        ("attachment", "annexe-1.pdf", hashlib.sha256(annex).hexdigest()),
    ]
    rows = await archive.pool.fetch(
        "SELECT role, object_key FROM documents WHERE letter_id = $1 ORDER BY role DESC",
        command.correlation_id,
    )
    assert [r["role"] for r in rows] == ["main", "attachment"]
    for row, content in zip(rows, (main, annex), strict=True):
        assert await asyncio.to_thread(read_object, archive.s3, archive.bucket, row["object_key"]) == content


# ------------------------------------------------------------------ idempotency key


async def test_the_same_idempotency_key_and_content_give_the_same_letter_never_a_second(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    first = submit_command(demo_pdf("Idempotent " + uuid.uuid4().hex)).model_copy(
        update={"idempotency_key": f"key-{uuid.uuid4().hex}"}
    )
    event = await deposit_command(amqp_url, probe, first)
    # A retry built afresh: a new message id and a new letter id, the same key and content.
    retry = first.model_copy(update={"message_id": uuid.uuid4(), "correlation_id": uuid.uuid4()})

    await submit(amqp_url, retry)
    await eventually(lambda: len(probe.of(LetterDeposited.routing_key, first.correlation_id)) == 2)

    again = LetterDeposited.model_validate_json(
        probe.of(LetterDeposited.routing_key, first.correlation_id)[1].body
    )
    assert again == event  # the very announcement, under its first message id
    assert not probe.of(LetterDeposited.routing_key, retry.correlation_id)
    assert not probe.of(LetterRejected.routing_key, retry.correlation_id)
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 1
    assert await archive.pool.fetchval("SELECT count(*) FROM documents") == 1
    assert len(await asyncio.to_thread(object_keys, archive.s3, archive.bucket)) == 1


async def test_the_same_idempotency_key_with_other_content_is_refused(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    key = f"key-{uuid.uuid4().hex}"
    first = submit_command(demo_pdf("Premier " + uuid.uuid4().hex)).model_copy(
        update={"idempotency_key": key}
    )
    await deposit_command(amqp_url, probe, first)
    other = submit_command(demo_pdf("Autre " + uuid.uuid4().hex)).model_copy(update={"idempotency_key": key})

    await submit(amqp_url, other)
    message = await probe.wait_for(LetterRejected.routing_key, other.correlation_id)

    rejected = LetterRejected.model_validate_json(message.body)
    assert [p.field for p in rejected.problems] == ["idempotency_key"]
    assert str(first.correlation_id) in rejected.problems[0].reason
    assert rejected.idempotency_key == key
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 1
    assert len(probe.of(LetterDeposited.routing_key, first.correlation_id)) == 1


# ------------------------------------------------------------------------- buckets


async def test_the_content_bucket_expires_objects_after_the_configured_days(archive: Archive) -> None:
    lifecycle = await asyncio.to_thread(archive.s3.get_bucket_lifecycle, archive.bucket)

    assert lifecycle is not None
    [rule] = lifecycle.rules
    assert rule.expiration is not None
    assert rule.expiration.days == archive.settings.content_expiry_days
    assert rule.rule_filter is not None and rule.rule_filter.prefix == ""


async def test_the_evidence_bucket_locks_objects_in_compliance_mode_for_the_configured_days(
    archive: Archive, s3: SeaweedS3
) -> None:
    bucket = archive.settings.evidence_bucket
    config = await asyncio.to_thread(archive.s3.get_object_lock_config, bucket)

    assert config.mode == COMPLIANCE
    assert (config.duration, config.duration_unit) == (
        archive.settings.rules().evidence_retention_days,
        "Days",
    )
    if not s3.pid:  # a shared S3 store: leave no year-long locked object behind
        return
    put = await asyncio.to_thread(archive.s3.put_object, bucket, "record.json", io.BytesIO(b"{}"), 2)
    retention = await asyncio.to_thread(
        archive.s3.get_object_retention, bucket, "record.json", version_id=put.version_id
    )
    assert retention is not None and retention.mode == COMPLIANCE
    assert retention.retain_until_date is not None
    assert retention.retain_until_date >= datetime.now(UTC) + timedelta(days=364)
    with pytest.raises(S3Error) as refused:
        await asyncio.to_thread(archive.s3.remove_object, bucket, "record.json", version_id=put.version_id)
    assert refused.value.code == "AccessDenied"


async def test_the_identity_bucket_encrypts_objects_at_rest_by_default(archive: Archive) -> None:
    bucket = archive.settings.identity_bucket
    encryption = await asyncio.to_thread(archive.s3.get_bucket_encryption, bucket)
    assert encryption is not None and encryption.rule.sse_algorithm == "AES256"

    await asyncio.to_thread(archive.s3.put_object, bucket, "id.pdf", io.BytesIO(b"%PDF-"), 5)
    stat = await asyncio.to_thread(archive.s3.stat_object, bucket, "id.pdf")

    assert stat.metadata is not None
    assert stat.metadata.get("x-amz-server-side-encryption") == "AES256"


async def test_setting_the_buckets_up_again_at_a_restart_changes_nothing(
    archive: Archive, s3: SeaweedS3
) -> None:
    buckets = S3Buckets(objects.Store(s3.endpoint, s3.access_key, s3.secret_key, "us-east-1"))

    await buckets.ensure(bucket_plan(archive.settings))

    config = await asyncio.to_thread(archive.s3.get_object_lock_config, archive.settings.evidence_bucket)
    assert config.mode == COMPLIANCE


async def test_an_evidence_bucket_without_object_lock_stops_the_start(
    archive: Archive, s3: SeaweedS3
) -> None:
    plan = bucket_plan(archive.settings)
    unlocked = f"{archive.bucket}-unlocked"
    await asyncio.to_thread(archive.s3.make_bucket, unlocked)
    buckets = S3Buckets(objects.Store(s3.endpoint, s3.access_key, s3.secret_key, "us-east-1"))
    try:
        with pytest.raises(BucketError, match="without object lock"):
            await buckets.ensure(replace(plan, evidence=unlocked))
    finally:
        await asyncio.to_thread(remove_bucket, archive.s3, unlocked)


# ---------------------------------------------------------------- reads and the zip


def content_store(archive: Archive, s3: SeaweedS3) -> S3ContentStore:
    return S3ContentStore(
        objects.Store(s3.endpoint, s3.access_key, s3.secret_key, "us-east-1"), archive.bucket
    )


async def zip_of(archive: Archive, s3: SeaweedS3, letter_id: uuid.UUID) -> bytes:
    async with archive.pool.acquire() as conn:
        documents = unit_of_work(Transaction(conn)).documents
        entries = await letter_zip_entries(documents, letter_id, store=content_store(archive, s3))
    return b"".join([chunk async for chunk in stream_zip(entries)])


async def test_a_letter_zips_into_its_documents_byte_for_byte_main_document_first(
    archive: Archive, probe: Probe, amqp_url: str, s3: SeaweedS3
) -> None:
    main, annex = demo_pdf("Zip " + uuid.uuid4().hex), demo_pdf("Annexe " + uuid.uuid4().hex)
    command = submit_command(main).model_copy(
        update={"attachments": (Document(filename="annexe.pdf", content=annex),)}
    )
    await deposit_command(amqp_url, probe, command)

    data = await zip_of(archive, s3, command.correlation_id)

    with zipfile.ZipFile(io.BytesIO(data)) as archived:
        assert archived.testzip() is None
        assert archived.namelist() == ["mise-en-demeure.pdf", "annexe.pdf"]
        assert archived.read("mise-en-demeure.pdf") == main
        assert archived.read("annexe.pdf") == annex


async def test_altered_stored_bytes_break_the_read_the_stream_and_the_zip_instead_of_being_served(
    archive: Archive, probe: Probe, amqp_url: str, s3: SeaweedS3
) -> None:
    pdf = demo_pdf("Altere " + uuid.uuid4().hex)
    event = await deposit(amqp_url, archive, probe, pdf)
    key = await archive.pool.fetchval(
        "SELECT object_key FROM documents WHERE letter_id = $1", event.correlation_id
    )
    altered = one_byte_changed(pdf)
    await asyncio.to_thread(archive.s3.put_object, archive.bucket, key, io.BytesIO(altered), len(altered))
    store = content_store(archive, s3)

    streamed = bytearray()

    async def stream() -> None:
        async for chunk in store.stream(key, event.documents[0].sha256):
            streamed.extend(chunk)

    with pytest.raises(IntegrityError):
        await store.get(key, event.documents[0].sha256)
    with pytest.raises(IntegrityError):
        await stream()
    with pytest.raises(IntegrityError):
        await zip_of(archive, s3, event.correlation_id)
    # A stream holds its last chunk back until the hash is checked: never the whole of it.
    assert len(streamed) < len(altered)


def random_object(client: Minio, bucket: str, key: str, size: int) -> str:
    """Put `size` random bytes without holding them at once; return their SHA-256."""
    digest = hashlib.sha256()

    class Random(io.RawIOBase):
        left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            n = min(len(buffer), self.left, 1 << 20)
            data = os.urandom(n)
            buffer[:n] = data
            digest.update(data)
            self.left -= n
            return n

    client.put_object(bucket, key, Random(), size, part_size=16 * 1024 * 1024)
    return digest.hexdigest()


async def test_zipping_a_large_letter_streams_in_constant_memory(archive: Archive, s3: SeaweedS3) -> None:
    size, count = 24 * 1024 * 1024, 3
    store = content_store(archive, s3)
    entries = []
    for i in range(count):
        key = f"letters/big/{i}"
        digest = await asyncio.to_thread(random_object, archive.s3, archive.bucket, key, size)
        entries.append(ZipEntry(f"document-{i}.pdf", partial(store.stream, key, digest)))

    tracemalloc.start()
    try:
        total = 0
        async for chunk in stream_zip(entries):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total > size * count
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while zipping {total / 2**20:.0f} MiB"


# ------------------------------------------------------------------ text no service can hold


def deposit_body(change: Callable[[dict[str, Any]], None]) -> tuple[uuid.UUID, bytes]:
    """A deposit as JSON, changed by `change` (what no model would write)."""
    body = json.loads(submit_command(demo_pdf("Hostile " + uuid.uuid4().hex)).to_json())
    change(body)
    return uuid.UUID(body["correlation_id"]), json.dumps(body).encode()


UNHOLDABLE: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "nul-in-last-name": (
        lambda b: b["recipient"].update(last_name="Dupont\u0000"),
        "recipient.last_name",
        "control character U+0000 at position 7",
    ),
    "bidi-override-in-sender-name": (
        lambda b: b["sender"].update(name="Cabinet \u202eeniluM"),
        "sender.name",
        "invisible formatting character (bidirectional or zero-width) U+202E",
    ),
    "zero-width-in-city": (
        lambda b: b["recipient"].update(city="Pa\u200bris"),
        "recipient.city",
        "U+200B",
    ),
    "c1-control-in-address-line": (
        lambda b: b["recipient"].update(address_lines=["Bâtiment B\u0085"]),
        "recipient.address_lines[0]",
        "control character U+0085",
    ),
    "nul-in-file-name": (
        lambda b: b["main_document"].update(filename="lettre\u0000.pdf"),
        "main_document.filename",
        "U+0000",
    ),
    "file-name-over-255-bytes": (
        lambda b: b["main_document"].update(filename="é" * 150 + ".pdf"),
        "main_document.filename",
        "longer than 255 bytes in UTF-8",
    ),
}


@pytest.mark.parametrize("case", sorted(UNHOLDABLE))
async def test_text_no_service_can_hold_is_refused_to_the_sender_before_anything_is_numbered(
    archive: Archive, probe: Probe, amqp_url: str, case: str
) -> None:
    """Whatever the archive accepts, every service downstream stores: a NUL, a bidirectional
    override or a zero-width character never gets an item number, a seal or a notice."""
    change, field, reason = UNHOLDABLE[case]
    letter_id, body = deposit_body(change)
    stats = archive.runtime.bus.stats

    await publish_raw(amqp_url, SubmitLetter.exchange, SubmitLetter.routing_key, body, str(uuid.uuid4()))
    message = await probe.wait_for(LetterRejected.routing_key, letter_id)

    rejected = LetterRejected.model_validate_json(message.body)
    assert [p.field for p in rejected.problems] == [field]
    assert reason in rejected.problems[0].reason
    assert probe.of(LetterDeposited.routing_key, letter_id) == []
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 0
    assert (stats.retried, stats.dead_lettered) == (0, 0)


async def test_a_nul_in_the_idempotency_key_is_refused_at_once_not_retried_to_the_delivery_limit(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter_id, body = deposit_body(lambda b: b.update(idempotency_key="lot\u00007"))
    stats = archive.runtime.bus.stats

    await publish_raw(amqp_url, SubmitLetter.exchange, SubmitLetter.routing_key, body, str(uuid.uuid4()))
    message = await probe.wait_for(LetterRejected.routing_key, letter_id)

    rejected = LetterRejected.model_validate_json(message.body)
    assert [p.field for p in rejected.problems] == ["idempotency_key"]
    assert rejected.idempotency_key is None  # not repeated back: it cannot be stored
    assert (stats.retried, stats.dead_lettered) == (0, 0)


# ------------------------------------------------------------------ the recipient's birth date


async def test_a_declared_birth_date_is_announced_with_the_letter(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    """CPCE R.53-1: the pickup site compares it with the identity provider's birth date."""
    command = submit_command(demo_pdf("Née le " + uuid.uuid4().hex)).model_copy(
        update={"recipient": recipient(birth_date="1990-04-12")}
    )

    event = await deposit_command(amqp_url, probe, command)

    assert event.recipient.birth_date == date(1990, 4, 12)
    kept = await archive.pool.fetchval(
        "SELECT deposited_event FROM letters WHERE letter_id = $1", command.correlation_id
    )
    assert json.loads(kept)["recipient"]["birth_date"] == "1990-04-12"  # an idempotent retry's answer


@pytest.mark.parametrize(("born", "reason"), [("2999-01-01", "in the future"), ("1899-12-31", "before 1900")])
async def test_a_birth_date_that_cannot_be_the_recipients_is_refused_to_the_sender_on_its_field(
    archive: Archive, probe: Probe, amqp_url: str, born: str, reason: str
) -> None:
    letter_id, body = deposit_body(lambda b: b["recipient"].update(birth_date=born))
    stats = archive.runtime.bus.stats

    await publish_raw(amqp_url, SubmitLetter.exchange, SubmitLetter.routing_key, body, str(uuid.uuid4()))
    message = await probe.wait_for(LetterRejected.routing_key, letter_id)

    [problem] = LetterRejected.model_validate_json(message.body).problems
    assert problem.field == "recipient.birth_date"
    assert f"{born} is {reason}" in problem.reason
    assert probe.of(LetterDeposited.routing_key, letter_id) == []
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 0
    assert (stats.retried, stats.dead_lettered) == (0, 0)


async def test_a_deposit_nested_100000_deep_is_refused_to_its_sender_at_once_with_the_cause(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    letter_id, body = deposit_body(lambda b: b.update(note=None))
    deep = body[:-1] + b', "note": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    stats = archive.runtime.bus.stats

    await publish_raw(amqp_url, SubmitLetter.exchange, SubmitLetter.routing_key, deep, str(uuid.uuid4()))
    message = await probe.wait_for(LetterRejected.routing_key, letter_id)

    [problem] = LetterRejected.model_validate_json(message.body).problems
    assert "recursion limit exceeded" in problem.reason
    assert (stats.retried, stats.dead_lettered) == (0, 0)


async def test_a_second_deposit_under_a_taken_message_id_is_refused_to_its_sender_once(
    archive: Archive, probe: Probe, amqp_url: str
) -> None:
    """A reused message id is not a redelivery when the body differs: the second letter is
    neither dropped as a duplicate nor stored; its sender is told, once."""
    first = submit_command(demo_pdf("Premier " + uuid.uuid4().hex))
    second = submit_command(demo_pdf("Second " + uuid.uuid4().hex)).model_copy(
        update={"message_id": first.message_id}
    )
    stats = archive.runtime.bus.stats

    await submit(amqp_url, first)
    await probe.wait_for(LetterDeposited.routing_key, first.correlation_id)
    await submit(amqp_url, second)
    await submit(amqp_url, second)
    message = await probe.wait_for(LetterRejected.routing_key, second.correlation_id)
    await eventually(lambda: stats.handled + stats.duplicates >= 3)
    await asyncio.sleep(0.5)  # a second rejection, if any, has the time to arrive

    [problem] = LetterRejected.model_validate_json(message.body).problems
    assert problem.field == "message_id"
    assert "already used by a different message" in problem.reason
    assert len(probe.of(LetterRejected.routing_key, second.correlation_id)) == 1
    assert await archive.pool.fetchval("SELECT count(*) FROM letters") == 1
    assert stats.dead_lettered == 0
