"""Where the tests find their real infrastructure.

Order for each part: a URL from the environment; else the engine this machine runs
(RabbitMQ on 5672, PostgreSQL on 5432); else a container through testcontainers when a
Docker engine answers. SeaweedFS and the SMTP server are started by the fixtures.
Each test session gets its own RabbitMQ virtual host and its own database names, so
tests never meet a developer's running platform or another session's leftovers.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# The tests run up to two five-service platforms at once, each holding 340 to 530 of the
# broker's file handles through its quorum queues (docs/OPERATIONS.md, "Broker footprint");
# below this many free, the broker stops accepting connections part-way.
BROKER_HANDLES_NEEDED = 1100
_SESSION_CHECKED: list[bool] = []


def check_broker_headroom() -> None:
    """Fail at once, saying why, when the local broker has too few file handles left (a
    running `make run` platform's queues, another session's leftovers, a low `ulimit -n`)."""
    try:
        shown = subprocess.run(
            ["rabbitmqctl", "-q", "eval", "file_handle_cache:info()."],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return  # not known: go on
    found = re.search(r"\{total_limit,(\d+)\},\{total_used,(\d+)\}", shown)
    if found is None:
        return
    limit, used = int(found.group(1)), int(found.group(2))
    if limit - used < BROKER_HANDLES_NEEDED:
        raise RuntimeError(
            f"RabbitMQ has {limit - used} of its {limit} file handles free; the tests need about"
            f" {BROKER_HANDLES_NEEDED}. Quorum queues hold them: delete the queues and virtual hosts"
            " of other platforms (`rabbitmqctl list_queues`, `rabbitmqctl list_vhosts`; `make stop`"
            " leaves the local platform's queues), or start the broker with a higher `ulimit -n`."
        )


def rabbitmq_admin_url(amqp_url: str) -> str:
    """RabbitMQ's management API for the broker of `amqp_url` (`lre-senders` makes sender
    systems' users through it): LRE_TEST_RABBITMQ_ADMIN_URL, else port 15672 of its host,
    where the plugin is enabled if this machine runs the broker (deploy/local/start-rabbitmq.sh)."""
    if url := os.environ.get("LRE_TEST_RABBITMQ_ADMIN_URL"):
        return url
    host = urlsplit(amqp_url).hostname or "127.0.0.1"
    if host in ("127.0.0.1", "localhost") and not port_open(host, 15672) and shutil.which("rabbitmq-plugins"):
        subprocess.run(
            ["rabbitmq-plugins", "enable", "rabbitmq_management"], capture_output=True, timeout=120
        )
        for _ in range(60):
            if port_open(host, 15672):
                break
            time.sleep(0.5)
    return f"http://{host}:15672"


@contextmanager
def rabbitmq_url() -> Iterator[str]:
    """An AMQP URL to a virtual host of this session's own, deleted afterwards."""
    if url := os.environ.get("LRE_TEST_AMQP_URL"):
        yield url
        return
    if port_open("127.0.0.1", 5672) and shutil.which("rabbitmqctl"):
        if not _SESSION_CHECKED:  # once, before this session holds any of the broker's handles
            _SESSION_CHECKED.append(True)
            check_broker_headroom()
        vhost = f"lre-test-{uuid.uuid4().hex[:8]}"
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        try:
            yield f"amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe='')}"
        finally:
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)
        return
    if docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13-management") as container:
            params = container.get_connection_params()
            yield f"amqp://guest:guest@{params.host}:{params.port}/"
        return
    raise RuntimeError("no RabbitMQ: set LRE_TEST_AMQP_URL or run one on 127.0.0.1:5672")


@contextmanager
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server URL (no database part) where the tests may create databases."""
    if url := os.environ.get("LRE_TEST_POSTGRES_URL"):
        yield url.rstrip("/")
        return
    if port_open("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432"
        return
    if docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as container:
            url = container.get_connection_url()
            parts = urlsplit(url)
            yield urlunsplit(parts._replace(path=""))
        return
    raise RuntimeError("no PostgreSQL: set LRE_TEST_POSTGRES_URL or run one on 127.0.0.1:5432")


async def drop_databases(server_url: str, prefix: str) -> None:
    conn = await asyncpg.connect(server_url + "/postgres")
    try:
        names = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%")
        for row in names:
            with suppress(asyncpg.PostgresError):
                await conn.execute(f'DROP DATABASE "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def free_port_block(size: int, start: int = 20000, stop: int = 40000) -> int:
    """A base port such that base .. base+size-1 are all free right now."""
    import random

    for _ in range(200):
        base = random.randrange(start, stop - size)
        if all(not port_open("127.0.0.1", base + i) for i in range(size)):
            return base
    raise RuntimeError("no free block of ports")
