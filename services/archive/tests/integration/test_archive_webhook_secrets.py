"""Webhook secrets encrypted at rest, on a real PostgreSQL: the stored columns hold no secret
and open back, deliveries still verify with the secret the operator was given; a row stored
in plain text before the encryption still signs and is sealed when the archive starts (once);
a key that does not open the stored secrets is refused loudly, and the archive does not start."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from archive.adapters.webhook_secrets import SecretBox, WebhookSecretUnreadable
from archive.adapters.webhooks import PgWebhooks, webhook_units
from archive.bootstrap import MIGRATIONS, bootstrap
from archive.domain.webhooks import RetrySchedule, UrlPolicy
from archive.entrypoints import admin
from archive.service_layer import webhooks
from archive.service_layer.webhooks import Attempt
from archive.settings import ArchiveSettings
from deploy.local.seaweed import SeaweedS3
from lre_shared import db
from lre_shared.contracts import SenderEvent, SenderEventKind
from lre_shared.webhooks import new_secret, verify
from services.archive.tests.integration.served import remove_bucket

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
KEY = "k" * 32
BOX = SecretBox(KEY)
URL = "https://erp.acme.example/lre"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(database_url, MIGRATIONS)
    opened = await db.create_pool(database_url, 4)
    try:
        yield opened
    finally:
        await opened.close()


@dataclass
class Receiver:
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Attempt:
        self.posts.append((headers, body))
        return Attempt(204)


class PublicResolver:
    async def addresses(self, host: str, port: int) -> list[str]:
        return ["93.184.216.34"]


async def stored(pool: asyncpg.Pool, sender_id: str) -> tuple[str, str | None]:
    row = await pool.fetchrow(
        "SELECT secret, previous_secret FROM webhook_endpoints WHERE sender_id = $1", sender_id
    )
    assert row is not None
    return row["secret"], row["previous_secret"]


async def store_plain(
    pool: asyncpg.Pool | asyncpg.Connection, sender_id: str, secret: str, previous: str | None = None
) -> None:
    """A row as the archive wrote it before the secrets were encrypted."""
    await pool.execute(
        "INSERT INTO webhook_endpoints (sender_id, url, secret, previous_secret, previous_until,"
        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        sender_id,
        URL,
        secret,
        previous,
        None if previous is None else NOW + timedelta(days=1),
        NOW,
    )


async def delivered_once(
    pool: asyncpg.Pool, sender_id: str, box: SecretBox = BOX
) -> tuple[dict[str, str], bytes]:
    """One event of `sender_id` delivered by the dispatcher: its headers and body."""
    sent = SenderEvent(
        correlation_id=uuid.uuid4(),
        sender_id=sender_id,
        event=SenderEventKind.deposited,
        sequence=1,
        item_number="1A00000000017",
        event_time=NOW,
    )
    await PgWebhooks(pool, box).add_delivery(sent, sent.to_json(), NOW)
    receiver = Receiver()
    await webhooks.dispatch_due(
        units=webhook_units(lambda: pool, box),
        poster=receiver,
        dispatch=webhooks.Dispatch(RetrySchedule()),
        clock=lambda: NOW,
    )
    (delivery,) = receiver.posts
    return delivery


async def test_the_stored_secret_is_not_the_secret_and_deliveries_verify_with_it(pool: asyncpg.Pool) -> None:
    units = webhook_units(lambda: pool, BOX)
    issued = await webhooks.set_endpoint(
        "acme", URL, units=units, policy=UrlPolicy(), resolver=PublicResolver(), clock=lambda: NOW
    )
    assert issued is not None and issued.startswith("whsec_")
    secret, previous = await stored(pool, "acme")
    assert secret.startswith("enc:v1:") and previous is None
    assert issued not in secret and issued.removeprefix("whsec_") not in secret
    assert BOX.open("acme", secret) == issued
    headers, body = await delivered_once(pool, "acme")
    assert verify(issued, headers, body, now=NOW).sender_id == "acme"

    rotated = await webhooks.rotate_secret("acme", units=units, overlap=timedelta(days=1), clock=lambda: NOW)
    assert rotated is not None
    new, old = await stored(pool, "acme")
    assert old == secret  # moved as it was, still sealed for this sender
    assert new.startswith("enc:v1:") and rotated not in new
    endpoint = await PgWebhooks(pool, BOX).endpoint("acme")
    assert endpoint is not None and (endpoint.secret, endpoint.previous_secret) == (rotated, issued)
    headers, body = await delivered_once(pool, "acme")
    for either in (rotated, issued):  # both sign during the overlap
        verify(either, headers, body, now=NOW)


async def test_a_plain_row_from_before_still_signs_and_is_sealed_once(pool: asyncpg.Pool) -> None:
    plain, plain_previous = new_secret(), new_secret()
    await store_plain(pool, "acme", plain, plain_previous)
    await store_plain(pool, "globex", new_secret())
    headers, body = await delivered_once(pool, "acme")
    for either in (plain, plain_previous):
        verify(either, headers, body, now=NOW)

    units = webhook_units(lambda: pool, BOX)
    assert await webhooks.seal_legacy_secrets(units=units) == 2
    secret, previous = await stored(pool, "acme")
    assert secret.startswith("enc:v1:") and previous is not None and previous.startswith("enc:v1:")
    assert (BOX.open("acme", secret), BOX.open("acme", previous)) == (plain, plain_previous)
    headers, body = await delivered_once(pool, "acme")
    verify(plain, headers, body, now=NOW)

    assert await webhooks.seal_legacy_secrets(units=units) == 0  # idempotent
    assert await stored(pool, "acme") == (secret, previous)


async def test_a_key_that_does_not_open_the_secrets_is_refused_and_seals_nothing(pool: asyncpg.Pool) -> None:
    await PgWebhooks(pool, BOX).save_endpoint("acme", URL, new_secret(), NOW)
    plain = new_secret()
    await store_plain(pool, "globex", plain)
    other = SecretBox("o" * 32)
    with pytest.raises(WebhookSecretUnreadable, match=r"'acme'.*ARCHIVE_WEBHOOK_SECRETS_KEY"):
        await PgWebhooks(pool, other).endpoint("acme")
    with pytest.raises(WebhookSecretUnreadable, match="ARCHIVE_WEBHOOK_SECRETS_KEY"):
        await webhooks.seal_legacy_secrets(units=webhook_units(lambda: pool, other))
    assert await stored(pool, "globex") == (plain, None)  # one transaction: nothing sealed


async def test_a_secret_copied_to_another_sender_does_not_open(pool: asyncpg.Pool) -> None:
    await PgWebhooks(pool, BOX).save_endpoint("acme", URL, new_secret(), NOW)
    await store_plain(pool, "mallory", new_secret())
    await pool.execute(
        "UPDATE webhook_endpoints SET secret = (SELECT secret FROM webhook_endpoints"
        " WHERE sender_id = 'acme') WHERE sender_id = 'mallory'"
    )
    with pytest.raises(WebhookSecretUnreadable, match="'mallory'"):
        await PgWebhooks(pool, BOX).endpoint("mallory")


async def plain_row_in_new_database(database_url: str, secret: str) -> None:
    await db.migrate(database_url, MIGRATIONS)
    connection = await asyncpg.connect(database_url)
    try:
        await store_plain(connection, "acme", secret)
    finally:
        await connection.close()


def archive_settings(amqp_url: str, database_url: str, s3: SeaweedS3, key: str) -> ArchiveSettings:
    bucket = f"lre-wh-{uuid.uuid4().hex[:12]}"
    return ArchiveSettings(
        amqp_url=amqp_url,
        database_url=database_url,
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        content_bucket=bucket,
        evidence_bucket=f"{bucket}-evidence",
        identity_bucket=f"{bucket}-identity",
        zip_link_key=uuid.uuid4().hex,
        webhook_secrets_key=key,
    )


async def test_the_archive_seals_plain_secrets_when_it_starts_and_refuses_another_key(
    amqp_url: str, database_url: str, s3: SeaweedS3
) -> None:
    plain = new_secret()
    await plain_row_in_new_database(database_url, plain)
    settings = archive_settings(amqp_url, database_url, s3, KEY)
    runtime = bootstrap(settings)
    try:
        await runtime.startup()
        secret, _ = await stored(runtime.pool, "acme")
        assert secret.startswith("enc:v1:") and BOX.open("acme", secret) == plain
        await runtime.shutdown()
    finally:
        await runtime.after_shutdown()
        for name in (settings.content_bucket, settings.evidence_bucket, settings.identity_bucket):
            await asyncio.to_thread(remove_bucket, s3.client(), name)

    wrong = bootstrap(archive_settings(amqp_url, database_url, s3, "o" * 32))
    try:
        with pytest.raises(WebhookSecretUnreadable, match="ARCHIVE_WEBHOOK_SECRETS_KEY"):
            await wrong.startup()
    finally:
        await wrong.after_shutdown()


async def rows(database_url: str) -> dict[str, str]:
    connection = await asyncpg.connect(database_url)
    try:
        found = await connection.fetch("SELECT sender_id, secret FROM webhook_endpoints")
    finally:
        await connection.close()
    return {row["sender_id"]: row["secret"] for row in found}


def test_the_command_seals_plain_secrets_and_stops_on_another_key(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = new_secret()
    asyncio.run(plain_row_in_new_database(database_url, plain))
    for name, value in {
        "AMQP_URL": "amqp://guest:guest@127.0.0.1/",
        "DATABASE_URL": database_url,
        "S3_ENDPOINT": "http://127.0.0.1:1",
        "S3_ACCESS_KEY": "unused",
        "S3_SECRET_KEY": "unused",
        "ZIP_LINK_KEY": "z" * 32,
        "WEBHOOK_SECRETS_KEY": KEY,
    }.items():
        monkeypatch.setenv(f"ARCHIVE_{name}", value)
    assert admin.main(["webhook", "log", "acme"]) == 0
    sealed = asyncio.run(rows(database_url))["acme"]
    assert sealed.startswith("enc:v1:") and BOX.open("acme", sealed) == plain

    monkeypatch.setenv("ARCHIVE_WEBHOOK_SECRETS_KEY", "o" * 32)
    with pytest.raises(SystemExit, match=r"'acme'.*ARCHIVE_WEBHOOK_SECRETS_KEY"):
        admin.main(["webhook", "set", "globex", URL])
    assert asyncio.run(rows(database_url)) == {"acme": sealed}  # nothing written with that key
