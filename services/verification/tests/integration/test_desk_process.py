"""The desk as the local platform starts it (`make run`, the end-to-end tests): a process of
its own whose desk API takes the tokens `lre-desk-token` signs for the platform's key, and
whose inbound SMTP server listens next to its HTTP port."""

from __future__ import annotations

import smtplib
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from verification.entrypoints.desk_token import issue_token

pytestmark = pytest.mark.integration


def test_the_platform_starts_the_desk_with_its_keys_bucket_and_inbound_smtp(services: Any) -> None:
    services.start("verification")
    config = services.config
    port = config.ports["verification"]
    keys = Path(tempfile.gettempdir()) / f"lre-desk-{config.database_prefix}"
    token = issue_token(keys, "alice", ["agent"])

    anonymous = httpx.get(f"http://127.0.0.1:{port}/desk/api/cases", timeout=10)
    agent = httpx.get(
        f"http://127.0.0.1:{port}/desk/api/cases", headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    with smtplib.SMTP("127.0.0.1", port + 1, timeout=10) as smtp:
        code, _ = smtp.ehlo()

    assert anonymous.status_code == 401
    assert (agent.status_code, agent.json()["cases"]) == (200, [])
    assert code == 250
