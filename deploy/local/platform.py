"""Run the five services as separate processes against given infrastructure.

Used by the local stack (`make run`) and by the end-to-end and fault tests, so both
start the platform the same way.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES = ("archive", "notifier", "pickup", "signer", "verification")
ENV_PREFIX = {name: f"{name.upper()}_" for name in SERVICES}


@dataclass(frozen=True)
class Infrastructure:
    amqp_url: str
    postgres_url: str  # server URL without a database: postgresql://user@host:port
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    smtp_host: str
    smtp_port: int


@dataclass(frozen=True)
class PlatformConfig:
    infra: Infrastructure
    database_prefix: str  # each service gets <prefix>_<service>
    ports: Mapping[str, int]
    session_secret: str
    code_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))  # HMAC key of one-time codes
    document_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))  # identity documents at rest
    desk_smtp_port: int | None = None  # inbound SMTP of the verification desk; default: its HTTP port + 1
    mail_from: str = "notifications@lre.localhost"
    cookie_secure: bool = False  # plain HTTP on a developer's machine

    @property
    def pickup_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['pickup']}/"


def default_ports(base: int) -> dict[str, int]:
    return {
        name: base + i for i, name in enumerate(("pickup", "archive", "notifier", "signer", "verification"))
    }


def service_environment(config: PlatformConfig, service: str) -> dict[str, str]:
    infra = config.infra
    values = {
        "AMQP_URL": infra.amqp_url,
        "DATABASE_URL": f"{infra.postgres_url.rstrip('/')}/{config.database_prefix}_{service}",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(config.ports[service]),
    }
    if service == "archive":
        values |= {
            "S3_ENDPOINT": infra.s3_endpoint,
            "S3_ACCESS_KEY": infra.s3_access_key,
            "S3_SECRET_KEY": infra.s3_secret_key,
            "OWN_URL": f"http://127.0.0.1:{config.ports['archive']}",
            "ZIP_LINK_KEY": secrets.token_urlsafe(32),  # zip links live minutes: a key per start
        }
    elif service == "notifier":
        values |= {
            "SMTP_HOST": infra.smtp_host,
            "SMTP_PORT": str(infra.smtp_port),
            "SMTP_STARTTLS": "false",
            "MAIL_FROM": config.mail_from,
            "PICKUP_URL": config.pickup_url,
        }
    elif service == "pickup":
        values |= {
            "PUBLIC_URL": config.pickup_url,
            "SESSION_SECRET": config.session_secret,
            "COOKIE_SECURE": str(config.cookie_secure).lower(),
        }
    elif service == "verification":
        from verification.entrypoints.desk_token import LOCAL_AUDIENCE, LOCAL_ISSUER, ensure_local_keys

        # Agents' tokens for a local run: `lre-desk-token --dir <this directory>` signs them.
        desk_keys = Path(tempfile.gettempdir()) / f"lre-desk-{config.database_prefix}"
        smtp_port = config.desk_smtp_port or config.ports[service] + 1
        values |= {
            "CODE_HMAC_KEY": config.code_key,
            "DOCUMENT_KEY": config.document_key,
            "S3_ENDPOINT": infra.s3_endpoint,
            "S3_ACCESS_KEY": infra.s3_access_key,
            "S3_SECRET_KEY": infra.s3_secret_key,
            "OIDC_ISSUER": LOCAL_ISSUER,
            "OIDC_AUDIENCE": LOCAL_AUDIENCE,
            "OIDC_JWKS_FILE": str(ensure_local_keys(desk_keys)),
            "INBOUND_SMTP_PORT": str(smtp_port),
            "OWN_URL": f"http://127.0.0.1:{config.ports[service]}",
        }
    prefix = ENV_PREFIX[service]
    return {prefix + key: value for key, value in values.items()}


def start_service(
    config: PlatformConfig,
    service: str,
    log_path: Path,
    extra_env: Mapping[str, str] | None = None,
    detach: bool = False,
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(tuple(ENV_PREFIX.values()))}
    env |= service_environment(config, service)
    env |= dict(extra_env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", f"{service}.main"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )


def wait_ready(
    port: int,
    process: subprocess.Popen[bytes] | None = None,
    timeout: float = 60.0,
    log_path: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/health/ready"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"service on port {port} exited with {process.returncode}{_tail(log_path)}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"service on port {port} not ready after {timeout:.0f} s{_tail(log_path)}")


def stop_process(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM (graceful: in-flight messages finish), then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished == pid:
                return
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _tail(log_path: Path | None, lines: int = 30) -> str:
    if log_path is None or not log_path.exists():
        return ""
    text = log_path.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- log tail ---\n" + "\n".join(text)
