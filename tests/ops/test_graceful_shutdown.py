"""A consumer told to stop (SIGTERM, as Kubernetes and compose do) while a handler is in
flight: it stops consuming first, lets the handler finish, commits and acknowledges, then
exits 0. Nothing it had taken comes back afterwards; what arrived after the signal waits
in the queue for the next replica."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid

import aio_pika
import asyncpg
import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import Document, LetterDeposited, SubmitLetter
from lre_shared.sender import submit_letter
from lre_shared.topology import Service, queue_name
from tests.support.bus import eventually
from tests.support.running import RunningPlatform

pytestmark = pytest.mark.e2e

QUEUE = queue_name(Service.signer, LetterDeposited)
HELD_SECONDS = 15.0  # long enough for a deposit to reach the queue on a busy machine


def letter() -> SubmitLetter:
    return SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        main_document=Document(filename="lettre.pdf", content=demo_pdf()),
    )


async def queue_state(amqp_url: str) -> tuple[int, int]:
    """(messages ready, consumers) of the signer's queue of deposited letters."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = (await channel.declare_queue(QUEUE, passive=True)).declaration_result
        return int(declared.message_count or 0), int(declared.consumer_count or 0)


async def deposit_evidence(url: str, letter_id: uuid.UUID) -> int:
    """How many SubmissionAcceptance records the signer holds for the letter."""
    conn = await asyncpg.connect(url)
    try:
        records = await conn.fetch("SELECT event FROM evidence WHERE letter_id = $1", letter_id)
    finally:
        await conn.close()
    return sum(record["event"] == "SubmissionAcceptance" for record in records)


def logged(services: RunningPlatform, message: str) -> list[dict[str, object]]:
    entries = []
    for line in services.log_path("signer").read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if message in str(entry.get("message", "")):
                entries.append(entry)
    return entries


async def test_sigterm_stops_consuming_finishes_the_message_in_flight_and_exits_cleanly(
    services: RunningPlatform,
) -> None:
    amqp_url = services.amqp_url
    signer_db = services.database_url("signer")
    services.start("archive")
    services.start("signer", {"SIGNER_LOG_LEVEL": "DEBUG"}, fault=f"slow-handler:{QUEUE}:{HELD_SECONDS}")
    signer = services.processes["signer"]

    first = letter()
    await submit_letter(amqp_url, first)
    await eventually(lambda: bool(logged(services, "handler held")), timeout=30)

    os.kill(signer.pid, signal.SIGTERM)
    await eventually(lambda: bool(logged(services, "stopped consuming")), timeout=HELD_SECONDS / 2)

    # A letter deposited now waits in the queue: the stopping process takes nothing more,
    # while it still holds the first one.
    second = letter()
    await submit_letter(amqp_url, second)
    await eventually(lambda: _ready_messages(amqp_url, 1), timeout=HELD_SECONDS / 2)
    assert signer.poll() is None, "the process left before its handler finished"
    assert await deposit_evidence(signer_db, first.correlation_id) == 0

    assert await asyncio.to_thread(signer.wait, 30) == 0
    services.processes.pop("signer")
    # The first letter was committed and acknowledged; the second waits for the next replica.
    assert await deposit_evidence(signer_db, first.correlation_id) == 1
    assert await queue_state(amqp_url) == (1, 0)
    assert await deposit_evidence(signer_db, second.correlation_id) == 0

    # The next replica takes the second letter, and nothing of the first comes back.
    services.start("signer", {"SIGNER_LOG_LEVEL": "DEBUG"})
    await eventually(lambda: _evidence_recorded(signer_db, second.correlation_id), timeout=60)
    await eventually(lambda: _ready_messages(amqp_url, 0), timeout=30)
    assert await deposit_evidence(signer_db, first.correlation_id) == 1
    assert logged(services, "already handled") == []


async def _ready_messages(amqp_url: str, count: int) -> bool:
    return (await queue_state(amqp_url))[0] == count


async def _evidence_recorded(url: str, letter_id: uuid.UUID) -> bool:
    return await deposit_evidence(url, letter_id) == 1
