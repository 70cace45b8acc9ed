"""The test harness stops at once, saying why, when the local broker is short of file handles
(it would otherwise stop accepting connections part-way and the tests would hang)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.support import infra


def broker_saying(monkeypatch: pytest.MonkeyPatch, shown: str) -> None:
    def run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 0, stdout=shown, stderr="")

    monkeypatch.setattr(infra.subprocess, "run", run)


def test_a_broker_short_of_file_handles_stops_the_session_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker_saying(monkeypatch, "[{total_limit,927},{total_used,865},{sockets_limit,832},{sockets_used,9}]\n")

    with pytest.raises(RuntimeError, match="62 of its 927 file handles free"):
        infra.check_broker_headroom()


def test_a_broker_at_the_default_limit_is_short_even_when_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,024 descriptors (927 for files) cannot hold two platforms' quorum queues.
    broker_saying(monkeypatch, "[{total_limit,927},{total_used,12},{sockets_limit,832},{sockets_used,3}]\n")

    with pytest.raises(RuntimeError, match="915 of its 927 file handles free"):
        infra.check_broker_headroom()


@pytest.mark.parametrize(
    "shown",
    [
        "[{total_limit,19903},{total_used,12},{sockets_limit,17911},{sockets_used,3}]\n",
        "Error: no such node\n",
    ],
    ids=["room-enough", "not-known"],
)
def test_a_broker_with_room_or_one_that_cannot_say_lets_the_session_go_on(
    monkeypatch: pytest.MonkeyPatch, shown: str
) -> None:
    broker_saying(monkeypatch, shown)

    infra.check_broker_headroom()
