"""Twilio's own API description served by Prism, for the SMS and voice contract tests.

Prism is an npm package installed beside these tests (see tools/prism/package.json):
`npm ci --prefix services/notifier/tests/tools/prism`. A missing Prism fails the tests
that need it: a contract nobody checks is no contract.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.mailcatcher import free_port

HERE = Path(__file__).resolve().parent
PRISM = HERE / "tools" / "prism" / "node_modules" / ".bin" / "prism"
# Twilio's published description (twilio/twilio-oai, MIT), kept with the tests: see its README.
TWILIO_API = HERE / "vendor" / "twilio" / "twilio_api_v2010.json"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`prism mock --errors`: a request invalid for Twilio's description gets a 422."""
    if not PRISM.exists():
        pytest.fail(f"Prism is missing: run `npm ci --prefix {PRISM.parents[2]}` ({PRISM} not found)")
    if not TWILIO_API.exists():
        pytest.fail(f"Twilio's API description is missing: {TWILIO_API}")
    port = free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(PRISM), "mock", "--errors", "-h", "127.0.0.1", "-p", str(port), str(TWILIO_API)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prism did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
