"""The five services as separate processes, for end-to-end and fault tests."""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from deploy.local import platform
from deploy.local.oidc import LocalOidc, start_oidc
from deploy.local.seaweed import SeaweedS3
from tests.support import infra
from tests.support.fixtures import SmtpServer, TwilioApi
from tests.support.pki import TestPki, free_port

ROOT = Path(__file__).resolve().parents[2]

# A service is ready within seconds on an idle machine; on a busy one (a test session beside
# other work) its migrations alone may take a minute. A service that dies is seen at once.
STARTUP_SECONDS = 180.0


class RunningPlatform:
    def __init__(self, config: platform.PlatformConfig, logs: Path) -> None:
        self.config = config
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.oidc_process: subprocess.Popen[bytes] | None = None

    def log_path(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def start(
        self,
        service: str,
        extra_env: Mapping[str, str] | None = None,
        wait: bool = True,
        fault: str | None = None,
    ) -> None:
        """Start `service`; with `fault`, through `tests.support.faulty_service`, which builds
        that fault into this one process (see there for the faults it knows)."""
        module: tuple[str, ...] = ()
        if fault is not None:
            module = ("tests.support.faulty_service", service, fault)
            extra_env = {**(extra_env or {}), "PYTHONPATH": _with_root(os.environ.get("PYTHONPATH"))}
        process = platform.start_service(
            self.config, service, self.log_path(service), extra_env, module=module
        )
        self.processes[service] = process
        if wait:
            platform.wait_ready(
                self.config.ports[service], process, timeout=STARTUP_SECONDS, log_path=self.log_path(service)
            )

    def start_all(self, extra_env: Mapping[str, str] | None = None) -> None:
        """Start the five services; `extra_env` goes to each (a service reads its own prefix)."""
        for service in platform.SERVICES:
            self.start(service, extra_env, wait=False)
        for service in platform.SERVICES:
            platform.wait_ready(
                self.config.ports[service],
                self.processes[service],
                timeout=STARTUP_SECONDS,
                log_path=self.log_path(service),
            )

    def start_on_test_pki(self, pki: TestPki, extra_env: Mapping[str, str] | None = None) -> RunningPlatform:
        """The five services as `make run` starts them: the platform's configuration names the
        test PKI, and `deploy/local/platform.py` gives the signer every setting that follows
        from it (seal key, TSA, the root trusted for ARs signed with a personal certificate)."""
        self.config = dataclasses.replace(self.config, pki=pki.local())
        self.start_all(extra_env)
        return self

    def with_oidc(self) -> RunningPlatform:
        """Start an OpenID provider for this platform (`deploy/local/oidc.py`, its test users)
        before its services, which then sign agents in to the console and offer recipients
        the identity provider, as `make run` does."""
        if self.oidc_process is None:
            self.config = dataclasses.replace(
                self.config,
                oidc=LocalOidc(free_port(), secrets.token_urlsafe(24), secrets.token_urlsafe(24)),
            )
            assert self.config.oidc is not None
            self.oidc_process = start_oidc(
                self.config.oidc.port, self.config.oidc_clients(), self.logs / "oidc", self.log_path("oidc")
            )
        return self

    def stop(self, service: str) -> None:
        process = self.processes.pop(service, None)
        if process is not None and process.poll() is None:
            platform.stop_process(process.pid)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for service in list(self.processes):
            self.stop(service)
        if self.oidc_process is not None:
            self.oidc_process.terminate()
            self.oidc_process.wait(timeout=10)
            self.oidc_process = None

    @property
    def amqp_url(self) -> str:
        return self.config.infra.amqp_url

    def database_url(self, service: str) -> str:
        return platform.service_environment(self.config, service)[f"{service.upper()}_DATABASE_URL"]


def _with_root(path: str | None) -> str:
    """PYTHONPATH with the repository first, for `python -m tests.support...` from anywhere."""
    return os.pathsep.join([str(ROOT), *([path] if path else [])])


def platform_config(
    amqp_url: str,
    postgres_server: str,
    db_prefix: str,
    s3: SeaweedS3,
    smtp: SmtpServer,
    name: str,
    twilio_api: str | None = None,
    dkim_key_file: Path | None = None,
) -> platform.PlatformConfig:
    return platform.PlatformConfig(
        infra=platform.Infrastructure(
            amqp_url=amqp_url,
            postgres_url=postgres_server,
            s3_endpoint=s3.endpoint,
            s3_access_key=s3.access_key,
            s3_secret_key=s3.secret_key,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
        ),
        database_prefix=f"{db_prefix}_{name}",
        # Below the kernel's ephemeral range (32768+), where outgoing connections take ports.
        ports=platform.default_ports(infra.free_port_block(5, 23000, 32000)),
        session_secret=secrets.token_urlsafe(48),
        twilio_base_url=twilio_api,
        dkim_key_file=dkim_key_file,
    )


@pytest.fixture(scope="module")
def services(
    request: pytest.FixtureRequest,
    postgres_server: str,
    db_prefix: str,
    s3: SeaweedS3,
    smtp: SmtpServer,
    twilio_api: TwilioApi,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPlatform]:
    """A platform of this test module's own (its own virtual host and databases), not
    started yet: what one module leaves on the bus never reaches another's services. Every
    notice channel is configured as `make run` configures it: SMS and calls to Prism, faxes
    through the SMTP catcher, DKIM-signed email."""
    name = request.module.__name__.rpartition(".")[2].removeprefix("test_")[:20]
    logs = tmp_path_factory.mktemp(f"logs-{name}")
    with infra.rabbitmq_url() as amqp_url:
        running = RunningPlatform(
            platform_config(
                amqp_url,
                postgres_server,
                db_prefix,
                s3,
                smtp,
                name,
                twilio_api.url,
                logs / "dkim" / "key.pem",
            ),
            logs,
        )
        yield running
        running.stop_all()
