"""What one running platform takes from its broker: a quorum queue and its dead-letter queue
per subscription, `lre.unrouted`, and the file handles they and the five connections hold
(docs/OPERATIONS.md, "Broker footprint")."""

from __future__ import annotations

import re
import subprocess
import time
from urllib.parse import unquote, urlsplit

import pytest

from lre_shared.topology import UNROUTED_QUEUE, dead_letter_queue
from tests.support.running import RunningPlatform

pytestmark = pytest.mark.e2e

# Measured: about 4.7 broker file handles per queue with a platform running (quorum queue
# segments and write-ahead log, plus the five connections); the margin covers other sessions.
HANDLES_PER_QUEUE = 8


def rabbitmqctl(*args: str) -> str:
    shown = subprocess.run(["rabbitmqctl", "--silent", *args], capture_output=True, text=True, timeout=60)
    return shown.stdout


def handles_used() -> int:
    found = re.search(r"\{total_used,(\d+)\}", rabbitmqctl("eval", "file_handle_cache:info()."))
    if found is None:
        pytest.skip("the broker does not say how many file handles it uses")
    return int(found.group(1))


def queues_of(vhost: str) -> set[str]:
    listed = rabbitmqctl("list_queues", "-p", vhost, "name")
    return {line.strip() for line in listed.splitlines() if line.strip()}


def test_a_platform_declares_one_queue_and_one_dead_letter_queue_per_subscription_and_fits_the_handle_budget(
    services: RunningPlatform,
) -> None:
    vhost = unquote(urlsplit(services.amqp_url).path.removeprefix("/"))
    before = handles_used()

    services.start_all()

    queues = queues_of(vhost)
    time.sleep(10)  # quorum queues open their files as they settle
    taken = handles_used() - before
    consumed = {q for q in queues if not q.endswith(".dlq") and q != UNROUTED_QUEUE}
    expected = consumed | {dead_letter_queue(q) for q in consumed} | {UNROUTED_QUEUE}
    assert (sorted(expected - queues), sorted(queues - expected)) == ([], [])
    connections = rabbitmqctl("list_connections", "-p", vhost, "channels").split()
    print(
        f"broker footprint: {len(queues)} queues ({len(consumed)} consumed), {taken} file handles,"
        f" {len(connections)} connections with {sum(map(int, connections))} channels"
    )
    # Other sessions share the broker: the difference is a measure, not an exact count.
    assert taken < HANDLES_PER_QUEUE * len(queues)
