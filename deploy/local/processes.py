"""Stopping the local stack's processes: asked first (SIGTERM), killed past a timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def is_gone(pid: int) -> bool:
    """True once ``pid`` no longer exists (a zombie counts as gone)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return True
    except ChildProcessError:
        pass  # not our child; fall through to kill(0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def stop_process(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM (graceful: a service lets in-flight messages finish), wait up to ``timeout``
    seconds for the process to be gone, then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while not is_gone(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.1)
