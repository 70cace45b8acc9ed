"""A consumer killed after its database commit and before its ack: the broker redelivers
the message, the inbox recognises it, and its effect stays applied exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from lre_shared.contracts import Document, LetterDeposited, SubmitLetter
from lre_shared.sender import submit_letter
from lre_shared.topology import Service, queue_name
from tests.support.bus import queue_depth
from tests.support.running import RunningPlatform

pytestmark = pytest.mark.e2e

QUEUE = queue_name(Service.signer, LetterDeposited)


async def _wait_for(query: str, url: str, *args: object, timeout: float = 60.0) -> object:
    conn = await asyncpg.connect(url)
    try:
        for _ in range(int(timeout * 10)):
            value = await conn.fetchval(query, *args)
            if value:
                return value
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError(f"no result for {query}")


async def test_a_consumer_killed_between_commit_and_ack_applies_the_message_exactly_once(
    services: RunningPlatform,
) -> None:
    amqp_url = services.amqp_url
    services.start("archive")
    services.start("signer", fault=f"kill-after-commit:{QUEUE}")
    signer_db = services.database_url("signer")

    letter_id = await submit_letter(
        amqp_url,
        SubmitLetter(
            correlation_id=uuid.uuid4(),
            sender=DEMO_SENDER,
            recipient=DEMO_RECIPIENT,
            main_document=Document(filename="lettre.pdf", content=demo_pdf()),
        ),
    )

    # The signer committed the evidence, then died before acknowledging.
    crashed = services.processes["signer"]
    assert await asyncio.to_thread(crashed.wait, 60) == -9
    handled = await _wait_for("SELECT message_id FROM inbox WHERE queue = $1", signer_db, QUEUE, timeout=5)
    assert await _count_evidence(signer_db, letter_id) == 1

    # Restarted without the fault: the unacknowledged message comes back and is recognised.
    services.processes.pop("signer")
    services.start("signer")
    log = services.log_path("signer")
    for _ in range(300):
        if _logged_duplicate(log.read_text(errors="replace"), str(handled)):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the redelivered message was never seen again")

    assert await _count_evidence(signer_db, letter_id) == 1
    assert await queue_depth(amqp_url, QUEUE) == 0


def _logged_duplicate(log: str, message_id: str) -> bool:
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message_id") == message_id and "already handled" in entry.get("message", ""):
            return True
    return False


async def _count_evidence(url: str, letter_id: uuid.UUID) -> int:
    conn = await asyncpg.connect(url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM evidence WHERE letter_id = $1 AND event = 'SubmissionAcceptance'", letter_id
        )
        return count
    finally:
        await conn.close()
