"""The signer records the archive's download facts as ETSI EN 319 522 evidence:
ContentHandover (first download) and ContentHandoverFailure (the window passed with none),
chained after the letter's earlier records."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from lre_shared.contracts import (
    ContentHandedOver,
    ContentHandoverFailed,
    LetterAccepted,
    LetterDeposited,
    Message,
    StoredDocument,
    now_utc,
)
from lre_shared.runtime import ServiceRuntime
from signer.bootstrap import bootstrap
from signer.settings import SignerSettings
from tests.support.bus import publish, running

pytestmark = pytest.mark.integration


@pytest.fixture
async def signer(amqp_url: str, database_url: str) -> AsyncIterator[ServiceRuntime]:
    settings = SignerSettings(
        amqp_url=amqp_url, database_url=database_url, http_port=0, outbox_poll_seconds=0.2
    )
    async with running(bootstrap(settings), amqp_url) as runtime:
        yield runtime


def deposited_and_accepted() -> tuple[LetterDeposited, LetterAccepted]:
    letter = LetterDeposited(
        correlation_id=uuid.uuid4(),
        item_number=f"{uuid.uuid4().int % 10**12:012d}",
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        documents=(
            StoredDocument(document_id=uuid.uuid4(), filename="lettre.pdf", size=1234, sha256="c" * 64),
        ),
        verification_policy="default",
        deposited_at=now_utc() - timedelta(hours=1),
    )
    accepted = LetterAccepted(
        correlation_id=letter.correlation_id, item_number=letter.item_number, accepted_at=now_utc()
    )
    return letter, accepted


async def chain_of(pool: asyncpg.Pool, letter_id: uuid.UUID, count: int) -> list[asyncpg.Record]:
    deadline = asyncio.get_running_loop().time() + 20.0
    while True:
        rows = await pool.fetch(
            "SELECT seq, event, event_time, record, previous_sha256, record_sha256"
            " FROM evidence WHERE letter_id = $1 ORDER BY seq",
            letter_id,
        )
        if len(rows) >= count:
            return list(rows)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(rows)} evidence records for {letter_id}, expected {count}")
        await asyncio.sleep(0.05)


async def record_in_order(amqp_url: str, pool: asyncpg.Pool, *messages: Message) -> list[asyncpg.Record]:
    for count, message in enumerate(messages, start=1):
        await publish(amqp_url, message)
        await chain_of(pool, message.correlation_id, count)
    return await chain_of(pool, messages[0].correlation_id, len(messages))


async def test_the_first_download_is_recorded_as_content_handover(
    signer: ServiceRuntime, amqp_url: str
) -> None:
    letter, accepted = deposited_and_accepted()
    handed = ContentHandedOver(
        correlation_id=letter.correlation_id,
        item_number=letter.item_number,
        document_id=letter.documents[0].document_id,
        handed_over_at=now_utc(),
    )

    chain = await record_in_order(amqp_url, signer.pool, letter, accepted, handed)

    last = chain[-1]
    assert last["event"] == "ContentHandover"
    assert last["event_time"] == handed.handed_over_at
    assert last["previous_sha256"] == chain[-2]["record_sha256"]
    record = json.loads(bytes(last["record"]))
    assert record["item_number"] == letter.item_number
    assert str(letter.documents[0].document_id) in json.dumps(record)


async def test_a_window_passed_without_download_is_recorded_as_content_handover_failure(
    signer: ServiceRuntime, amqp_url: str
) -> None:
    letter, accepted = deposited_and_accepted()
    failed = ContentHandoverFailed(
        correlation_id=letter.correlation_id,
        item_number=letter.item_number,
        window_closed_at=accepted.accepted_at + timedelta(hours=48),
    )

    chain = await record_in_order(amqp_url, signer.pool, letter, accepted, failed)

    last = chain[-1]
    assert last["event"] == "ContentHandoverFailure"
    assert last["event_time"] == failed.window_closed_at
    assert last["previous_sha256"] == chain[-2]["record_sha256"]
    assert "no download" in json.dumps(json.loads(bytes(last["record"])))
