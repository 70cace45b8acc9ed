"""Twilio's API on this machine: Prism serving Twilio's own OpenAPI description.

SMS and voice calls of a local platform go to it instead of https://api.twilio.com: each
request is checked against the description (`--errors`: an invalid one gets a 4xx) and
answered with a made-up resource (`--dynamic`: a sid of its own for each message or call).
Its log shows every request it received (`post …/Messages.json` for an SMS, `…/Calls.json`
for a call) and whether it passed Twilio's rules.

Prism is the npm package in `services/notifier/tests/tools/prism` (`make test-tools`, or
`npm ci --prefix services/notifier/tests/tools/prism`).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRISM_DIR = ROOT / "services" / "notifier" / "tests" / "tools" / "prism"
PRISM = PRISM_DIR / "node_modules" / ".bin" / "prism"
# Twilio's published description (twilio/twilio-oai, MIT), kept in the project.
TWILIO_API = ROOT / "services" / "notifier" / "tests" / "vendor" / "twilio" / "twilio_api_v2010.json"


class PrismMissing(RuntimeError):
    pass


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_listening(
    process: subprocess.Popen[bytes],
    port: int,
    log_path: Path,
    what: str,
    timeout: float,
    interval: float = 0.2,
) -> None:
    """Wait until `process` listens on `port`; kill it and raise, with its log's tail, if it
    dies or does not listen within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} did not start on 127.0.0.1:{port}: {tail}")
        time.sleep(interval)


def start_prism(
    port: int, log_path: Path, timeout: float = 90.0, detach: bool = False
) -> subprocess.Popen[bytes]:
    """Start Prism on 127.0.0.1:`port`, logging to `log_path`; return once it listens."""
    if not PRISM.exists():
        raise PrismMissing(f"Prism is missing: run `npm ci --prefix {PRISM_DIR}` ({PRISM} not found)")
    if not TWILIO_API.exists():
        raise PrismMissing(f"Twilio's API description is missing: {TWILIO_API}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [
                str(PRISM),
                "mock",
                "--errors",
                "--dynamic",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                str(TWILIO_API),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
    wait_listening(process, port, log_path, "Prism", timeout)
    return process
