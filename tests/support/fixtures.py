"""Fixtures giving tests real infrastructure (see tests/support/infra.py)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from deploy.local.mailcatcher import MailCatcherHandler, MailStore, free_port
from deploy.local.seaweed import SeaweedS3, start_seaweed, stop_seaweed
from tests.support import infra


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with infra.rabbitmq_url() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with infra.postgres_server_url() as url:
        yield url


@pytest.fixture(scope="session")
def db_prefix(postgres_server: str) -> Iterator[str]:
    prefix = f"lret{uuid.uuid4().hex[:6]}"
    yield prefix
    asyncio.run(infra.drop_databases(postgres_server, prefix))


@pytest.fixture
def database_url(postgres_server: str, db_prefix: str) -> str:
    """A database of the test's own; created by the code under test (migrations)."""
    return f"{postgres_server}/{db_prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    if endpoint := os.environ.get("LRE_TEST_S3_ENDPOINT"):
        yield SeaweedS3(
            endpoint=endpoint,
            access_key=os.environ["LRE_TEST_S3_ACCESS_KEY"],
            secret_key=os.environ["LRE_TEST_S3_SECRET_KEY"],
            pid=0,
        )
        return
    data = tmp_path_factory.mktemp("seaweed")
    for _ in range(5):
        # Below the kernel's ephemeral range (32768+), where outgoing connections take ports;
        # admin gRPC sits at base+10008.
        base = infra.free_port_block(11, 20000, 22500)
        if infra.port_open("127.0.0.1", base + 10008):
            continue
        server, _process = start_seaweed(
            data, base, "test" + secrets.token_hex(6), secrets.token_urlsafe(24), data / "weed.log"
        )
        break
    else:
        raise RuntimeError("no free ports for SeaweedFS")
    yield server
    stop_seaweed(server.pid)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    store: MailStore


@pytest.fixture(scope="session")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    store = MailStore(tmp_path_factory.mktemp("mail"))
    port = free_port()
    controller = Controller(MailCatcherHandler(store), hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpServer("127.0.0.1", port, store)
    controller.stop()


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TwilioApi:
    url: str
    log: Path  # every request Prism received


@pytest.fixture(scope="session")
def twilio_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwilioApi]:
    """Twilio's API as Prism serves it from Twilio's own description (deploy/local/prism.py),
    for platforms started as `make run` starts them."""
    from deploy.local.prism import PrismMissing, start_prism

    log = tmp_path_factory.mktemp("prism") / "prism.log"
    port = infra.free_port_block(1, 22500, 23000)
    try:
        process = start_prism(port, log)
    except PrismMissing as exc:
        pytest.fail(str(exc))
    yield TwilioApi(f"http://127.0.0.1:{port}", log)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
