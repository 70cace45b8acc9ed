"""The archive in-process on the real parts (RabbitMQ, PostgreSQL, SeaweedFS) with its HTTP
routes served by uvicorn on a port of their own, and a clock the tests move."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg
import pytest
import uvicorn
from minio import Minio
from minio.error import S3Error

from archive.adapters.api_keys import PgApiKeys
from archive.adapters.postgres import units_of_work
from archive.adapters.storage import S3ContentStore
from archive.bootstrap import bootstrap, content_store, http_site
from archive.domain.api_keys import new_key
from archive.service_layer.expiry import sweep
from archive.service_layer.uploads import sweep_uploads
from archive.settings import ArchiveSettings
from deploy.local.demo import DEMO_SENDER
from deploy.local.seaweed import SeaweedS3
from lre_shared.bus import broker_user
from lre_shared.contracts import LetterDeposited, Message, ReceiptSigned, SignatureMethod
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service, events_exchange
from tests.support import infra
from tests.support.bus import Probe, eventually, open_probe, purge_queues

R = TypeVar("R", bound=Message)

# The demo sender's API key (`lre-senders key issue`), stored in each test's database.
SENDER_KEY = new_key()
SENDER_TOKEN = SENDER_KEY.key
DOCUMENT_LIMIT = 300_000
EMBEDDED_LIMIT = 100_000


@dataclass
class MovableClock:
    at: datetime

    def now(self) -> datetime:
        return self.at

    def __call__(self) -> datetime:
        return self.at

    def move_to(self, at: datetime) -> None:
        self.at = at


@dataclass
class ServedArchive:
    runtime: ServiceRuntime
    settings: ArchiveSettings
    clock: MovableClock
    s3: Minio
    url: str

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.pool

    @property
    def store(self) -> S3ContentStore:
        return content_store(self.settings)

    @property
    def bucket(self) -> str:
        return self.settings.content_bucket

    async def ask(self, query: Message, answer: type[R]) -> R:
        return await self.runtime.bus.ask(query, answer, timeout=10.0)

    async def sweep(self) -> int:
        return await sweep(units_of_work(lambda: self.pool), store=self.store, clock=self.clock)

    async def sweep_uploads(self) -> int:
        return await sweep_uploads(units_of_work(lambda: self.pool), store=self.store, clock=self.clock)

    def keys(self, prefix: str) -> list[str]:
        found = self.s3.list_objects(self.bucket, prefix=prefix, recursive=True)
        return [o.object_name for o in found if o.object_name is not None and not o.is_dir]

    def read(self, key: str) -> bytes:
        response = self.s3.get_object(self.bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()


def signed_receipt(letter: LetterDeposited, at: datetime) -> ReceiptSigned:
    """The pickup site's announcement that the recipient signed `letter`'s receipt at `at`."""
    return ReceiptSigned(
        correlation_id=letter.correlation_id,
        item_number=letter.item_number,
        method=SignatureMethod.one_time_code,
        signed_at=at,
        signer_name="Camille Martin",
    )


def remove_bucket(client: Minio, bucket: str) -> None:
    if not client.bucket_exists(bucket):
        return
    try:
        for item in client.list_objects(bucket, recursive=True, include_version=True):
            if item.object_name is not None:
                client.remove_object(bucket, item.object_name, version_id=item.version_id)
        client.remove_bucket(bucket)
    except S3Error:  # locked evidence stays until its retention date
        pass


@pytest.fixture
async def served_archive(amqp_url: str, database_url: str, s3: SeaweedS3) -> AsyncIterator[ServedArchive]:
    bucket = f"lre-up-{uuid.uuid4().hex[:12]}"
    port = infra.free_port_block(1, 20000, 32000)
    settings = ArchiveSettings(
        amqp_url=amqp_url,
        database_url=database_url,
        http_port=port,
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        content_bucket=bucket,
        evidence_bucket=f"{bucket}-evidence",
        identity_bucket=f"{bucket}-identity",
        outbox_poll_seconds=0.2,
        senders=frozenset({DEMO_SENDER.id}),
        trusted_publishers=(broker_user(amqp_url),),  # the tests publish as the platform's user
        max_document_bytes=DOCUMENT_LIMIT,
        max_letter_bytes=2 * DOCUMENT_LIMIT,
        max_embedded_bytes=EMBEDDED_LIMIT,
        max_attachments=3,
        zip_link_key=uuid.uuid4().hex,
        webhook_secrets_key=uuid.uuid4().hex,
        sweep_seconds=3600,  # the tests sweep themselves, once they have moved the clock
    )
    clock = MovableClock(datetime.now(UTC))
    runtime = bootstrap(settings, clock=clock)
    server = uvicorn.Server(
        uvicorn.Config(
            http_site(runtime, settings, clock=clock),
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="off",
        )
    )
    await runtime.startup()
    await PgApiKeys(lambda: runtime.pool).add(
        uuid.uuid4(), DEMO_SENDER.id, SENDER_KEY.prefix, SENDER_KEY.sha256, "tests"
    )
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started)
        await purge_queues(amqp_url, runtime)
        await runtime.bus.broker.start()
        try:
            yield ServedArchive(runtime, settings, clock, s3.client(), f"http://127.0.0.1:{port}")
        finally:
            await runtime.bus.broker.stop()
    finally:
        server.should_exit = True
        await serving
        await runtime.shutdown()
        await runtime.after_shutdown()
        for name in (bucket, settings.evidence_bucket, settings.identity_bucket):
            await asyncio.to_thread(remove_bucket, s3.client(), name)


@pytest.fixture
async def archive_events(amqp_url: str) -> AsyncIterator[Probe]:
    async with open_probe(amqp_url, (events_exchange(Service.archive), "#")) as found:
        yield found
