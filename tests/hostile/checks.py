"""What must hold after hostile input, read from every store and the broker: nothing a
service accepted is missing downstream, no dead letter without its cause, no traceback."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections import defaultdict
from urllib.parse import unquote, urlsplit

import aio_pika
import asyncpg

from lre_shared.topology import DLQ_REASON_HEADER, UNROUTED_QUEUE
from tests.support.running import RunningPlatform


def _vhost(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).path.removeprefix("/")) or "/"


def queue_depths(amqp_url: str) -> dict[str, int]:
    shown = subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "list_queues",
            "-p",
            _vhost(amqp_url),
            "name",
            "messages",
            "--formatter",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {row["name"]: int(row["messages"]) for row in json.loads(shown or "[]")}


async def drained(amqp_url: str, timeout: float = 180.0) -> dict[str, int]:
    """Wait until every working queue is empty twice in a row; the dead-letter depths then."""
    deadline = asyncio.get_running_loop().time() + timeout
    empty_once = False
    while True:
        depths = await asyncio.to_thread(queue_depths, amqp_url)
        busy = {q: n for q, n in depths.items() if n and not q.endswith(".dlq") and q != UNROUTED_QUEUE}
        if not busy and empty_once:
            return {q: n for q, n in depths.items() if q.endswith(".dlq") and n}
        empty_once = not busy
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"queues still busy: {busy}")
        await asyncio.sleep(1.0)


async def dead_letters_without_a_cause(amqp_url: str, queues: dict[str, int]) -> list[str]:
    """Dead letters whose reason header is missing, or says only that retries ran out."""
    found: list[str] = []
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in queues:
            queue = await channel.get_queue(name, ensure=False)
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                reason = str((message.headers or {}).get(DLQ_REASON_HEADER) or "")
                if not reason or "delivery_limit" in reason:
                    death = (message.headers or {}).get("x-first-death-reason")
                    found.append(f"{name}: {message.message_id} without a cause ({death})")
            # Unacknowledged, they go back to their queue when the channel closes.
    return found


def tracebacks(platform: RunningPlatform) -> list[str]:
    found = []
    for service in platform.processes:
        for line in platform.log_path(service).read_text(errors="replace").splitlines():
            if "Traceback" in line:
                found.append(f"{service}: {line[:400]}")
    return found


async def inconsistencies(platform: RunningPlatform) -> list[str]:
    """Letters the archive accepted or refused that some service has not taken in."""

    async def rows(service: str, sql: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(platform.database_url(service))
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    deposited = {
        r["letter_id"]: r["item_number"]
        for r in await rows("archive", "SELECT letter_id, item_number FROM letters")
    }
    refused = {r["letter_id"] for r in await rows("archive", "SELECT letter_id FROM rejections")}
    pickup = {
        r["letter_id"]: r["item_number"]
        for r in await rows("pickup", "SELECT letter_id, item_number FROM letters")
    }
    desk = {r["letter_id"] for r in await rows("verification", "SELECT letter_id FROM letters")}
    events: dict[object, set[str]] = defaultdict(set)
    for r in await rows("signer", "SELECT letter_id, event FROM evidence"):
        events[r["letter_id"]].add(r["event"])
    noticed = {r["letter_id"] for r in await rows("notifier", "SELECT letter_id FROM delivery_attempts")}
    problems = []
    for letter_id, item_number in deposited.items():
        if pickup.get(letter_id) != item_number:
            problems.append(f"{letter_id}: deposited, unknown to the pickup site")
        if letter_id not in desk:
            problems.append(f"{letter_id}: deposited, unknown to the desk")
        if "SubmissionAcceptance" not in events[letter_id]:
            problems.append(f"{letter_id}: deposited, no SubmissionAcceptance evidence")
        if letter_id not in noticed:
            problems.append(f"{letter_id}: deposited, no notice attempted")
    for letter_id in refused:
        if "SubmissionRejection" not in events[letter_id]:
            problems.append(f"{letter_id}: refused, no SubmissionRejection evidence")
    return problems
