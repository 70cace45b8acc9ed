"""The signer in-process on the real parts (RabbitMQ, PostgreSQL): one evidence record per
event of a letter's life, chained by the SHA-256 of the previous record's stored bytes."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from lre_shared.contracts import (
    EvidenceRecorded,
    LetterAccepted,
    LetterDeposited,
    Message,
    NoticeChannel,
    NoticeFailed,
    NoticeSent,
    StoredDocument,
    now_utc,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service, events_exchange
from signer.bootstrap import bootstrap
from signer.settings import SignerSettings
from tests.support.bus import Probe, eventually, open_probe, publish, running

pytestmark = pytest.mark.integration


# --------------------------------------------------------------------------- helpers


@pytest.fixture
async def probe(amqp_url: str) -> AsyncIterator[Probe]:
    async with open_probe(amqp_url, (events_exchange(Service.signer), EvidenceRecorded.routing_key)) as found:
        yield found


@pytest.fixture
async def signer(amqp_url: str, database_url: str) -> AsyncIterator[ServiceRuntime]:
    settings = SignerSettings(
        amqp_url=amqp_url, database_url=database_url, http_port=0, outbox_poll_seconds=0.2
    )
    async with running(bootstrap(settings), amqp_url) as runtime:
        yield runtime


def deposited() -> LetterDeposited:
    return LetterDeposited(
        correlation_id=uuid.uuid4(),
        item_number=f"{uuid.uuid4().int % 10**12:012d}",
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        documents=(
            StoredDocument(
                document_id=uuid.uuid4(), filename="mise-en-demeure.pdf", size=1234, sha256="b" * 64
            ),
        ),
        verification_policy="default",
        deposited_at=now_utc() - timedelta(minutes=5),
    )


def notice_sent(letter: LetterDeposited) -> NoticeSent:
    return NoticeSent(
        correlation_id=letter.correlation_id,
        notice_id=uuid.uuid4(),
        item_number=letter.item_number,
        channel=NoticeChannel.email,
        address=letter.recipient.email,
        sent_at=now_utc(),
        provider_message_id=f"<{uuid.uuid4().hex}@lre.example>",
    )


def accepted(letter: LetterDeposited) -> LetterAccepted:
    return LetterAccepted(
        correlation_id=letter.correlation_id, item_number=letter.item_number, accepted_at=now_utc()
    )


async def records(pool: asyncpg.Pool, letter_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT evidence_id, seq, event, source_message_id, record, record_sha256, previous_sha256"
            " FROM evidence WHERE letter_id = $1 ORDER BY seq",
            letter_id,
        )
    )


async def wait_for_records(pool: asyncpg.Pool, letter_id: uuid.UUID, count: int) -> list[asyncpg.Record]:
    deadline = asyncio.get_running_loop().time() + 20.0
    while len(found := await records(pool, letter_id)) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(found)} evidence records for {letter_id}, expected {count}")
        await asyncio.sleep(0.05)
    return found


def assert_unbroken_chain(chain: list[asyncpg.Record]) -> None:
    """seq 1..n; each record's hash is the SHA-256 of its stored bytes; each links to the last."""
    assert [r["seq"] for r in chain] == list(range(1, len(chain) + 1))
    for record in chain:
        assert hashlib.sha256(bytes(record["record"])).hexdigest() == record["record_sha256"]
    first: dict[str, Any] = json.loads(bytes(chain[0]["record"]))
    assert chain[0]["previous_sha256"] is None
    assert first["previous_sha256"] is None
    for previous, record in itertools.pairwise(chain):
        expected = hashlib.sha256(bytes(previous["record"])).hexdigest()
        assert record["previous_sha256"] == expected
        assert json.loads(bytes(record["record"]))["previous_sha256"] == expected


# ----------------------------------------------------------------------------- tests


async def test_deposit_notice_and_acceptance_give_three_chained_records_and_three_events(
    signer: ServiceRuntime, probe: Probe, amqp_url: str
) -> None:
    letter = deposited()
    sources: list[Message] = [letter, notice_sent(letter), accepted(letter)]

    for count, source in enumerate(sources, start=1):
        await publish(amqp_url, source)
        await wait_for_records(signer.pool, letter.correlation_id, count)

    chain = await records(signer.pool, letter.correlation_id)
    assert_unbroken_chain(chain)
    assert [r["event"] for r in chain] == [
        "SubmissionAcceptance",
        "NotificationForAcceptance",
        "ConsignmentAcceptance",
    ]
    assert [r["source_message_id"] for r in chain] == [s.message_id for s in sources]
    bodies = [json.loads(bytes(r["record"])) for r in chain]
    assert {b["letter_id"] for b in bodies} == {str(letter.correlation_id)}
    assert {b["item_number"] for b in bodies} == {letter.item_number}

    await eventually(lambda: len(probe.evidence_of(letter.correlation_id)) >= 3)
    events = probe.evidence_of(letter.correlation_id)
    assert len(events) == 3
    by_id = {e.evidence_id: e for e in events}
    for record in chain:
        event = by_id[record["evidence_id"]]
        assert event.event == record["event"]
        assert event.record_sha256 == record["record_sha256"]
        assert event.previous_sha256 == record["previous_sha256"]


async def test_a_redelivered_event_adds_no_second_record(
    signer: ServiceRuntime, probe: Probe, amqp_url: str
) -> None:
    letter = deposited()
    await publish(amqp_url, letter)
    await wait_for_records(signer.pool, letter.correlation_id, 1)

    await publish(amqp_url, letter)
    await eventually(lambda: signer.bus.stats.duplicates >= 1)
    await publish(amqp_url, notice_sent(letter))
    chain = await wait_for_records(signer.pool, letter.correlation_id, 2)
    await asyncio.sleep(0.3)

    assert len(await records(signer.pool, letter.correlation_id)) == 2
    assert [r["event"] for r in chain] == ["SubmissionAcceptance", "NotificationForAcceptance"]
    assert_unbroken_chain(chain)


async def test_two_letters_have_independent_chains(
    signer: ServiceRuntime, probe: Probe, amqp_url: str
) -> None:
    first, second = deposited(), deposited()

    await publish(amqp_url, first)
    await wait_for_records(signer.pool, first.correlation_id, 1)
    await publish(amqp_url, second)
    await wait_for_records(signer.pool, second.correlation_id, 1)
    await publish(amqp_url, notice_sent(first))
    await wait_for_records(signer.pool, first.correlation_id, 2)
    await publish(amqp_url, notice_sent(second))
    await wait_for_records(signer.pool, second.correlation_id, 2)
    await publish(amqp_url, accepted(first))
    await wait_for_records(signer.pool, first.correlation_id, 3)

    chain_a = await records(signer.pool, first.correlation_id)
    chain_b = await records(signer.pool, second.correlation_id)
    assert len(chain_a) == 3
    assert len(chain_b) == 2
    assert_unbroken_chain(chain_a)
    assert_unbroken_chain(chain_b)
    hashes_a = {r["record_sha256"] for r in chain_a}
    assert not hashes_a & {r["previous_sha256"] for r in chain_b}
    assert not {r["record_sha256"] for r in chain_b} & {r["previous_sha256"] for r in chain_a}


async def test_ten_notices_for_one_letter_arriving_at_once_form_one_unbroken_chain(
    signer: ServiceRuntime, probe: Probe, amqp_url: str
) -> None:
    letter = deposited()
    await publish(amqp_url, letter)
    await wait_for_records(signer.pool, letter.correlation_id, 1)
    notices = [notice_sent(letter) for _ in range(10)]

    await publish(amqp_url, *notices)
    chain = await wait_for_records(signer.pool, letter.correlation_id, 11)
    await eventually(lambda: len(probe.evidence_of(letter.correlation_id)) >= 11)

    assert len(chain) == 11
    assert_unbroken_chain(chain)
    assert {r["source_message_id"] for r in chain[1:]} == {n.message_id for n in notices}
    assert signer.bus.stats.dead_lettered == 0
    assert len(probe.evidence_of(letter.correlation_id)) == 11


async def test_two_replicas_taking_one_letters_events_at_once_still_form_one_unbroken_chain(
    signer: ServiceRuntime, probe: Probe, amqp_url: str, database_url: str
) -> None:
    # A second replica on the same database and queues: the two compete for every message,
    # and notices, failures and the acceptance run on different queues, in parallel.
    replica = bootstrap(SignerSettings(amqp_url=amqp_url, database_url=database_url, http_port=0))
    await replica.startup()
    try:
        await replica.bus.broker.start()
        try:
            letter = deposited()
            await publish(amqp_url, letter)
            await wait_for_records(signer.pool, letter.correlation_id, 1)
            burst: list[Message] = [notice_sent(letter) for _ in range(10)]
            burst += [failed(letter) for _ in range(5)]
            burst.append(accepted(letter))

            await publish(amqp_url, *burst)
            chain = await wait_for_records(signer.pool, letter.correlation_id, 17)
        finally:
            await replica.bus.broker.stop()
    finally:
        await replica.after_shutdown()

    assert len(chain) == 17
    assert_unbroken_chain(chain)
    assert {r["source_message_id"] for r in chain[1:]} == {m.message_id for m in burst}
    assert signer.bus.stats.dead_lettered + replica.bus.stats.dead_lettered == 0


def failed(letter: LetterDeposited) -> NoticeFailed:
    return NoticeFailed(
        correlation_id=letter.correlation_id,
        notice_id=uuid.uuid4(),
        item_number=letter.item_number,
        channel=NoticeChannel.email,
        address=letter.recipient.email,
        reason="SMTP 451: try again later",
        permanent=False,
    )
