"""The five services as separate processes, for end-to-end and fault tests."""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import sys
import time
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
        # Replica 1 of a service under the service's name, replica n under "<service>#<n>".
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.oidc_process: subprocess.Popen[bytes] | None = None
        self.replicas = 1
        self.replica_ports: dict[str, list[int]] = {}
        self.balancer_process: subprocess.Popen[bytes] | None = None

    def log_path(self, service: str, replica: int = 1) -> Path:
        return self.logs / (f"{service}.log" if replica == 1 else f"{service}-{replica}.log")

    def with_replicas(self, replicas: int) -> RunningPlatform:
        """Run `replicas` processes of every service (`start_all`), competing for the same
        queues, sharing the same databases and buckets, as a Deployment with that many pods.
        Each process beyond the first listens on ports of its own; the pickup site's replicas
        all do, behind a round-robin balancer (`deploy/local/balancer.py`) on the site's
        address, which every link and notice names."""
        self.replicas = replicas
        if replicas > 1:
            for service in platform.SERVICES:
                # Two ports a process (the desk's inbound SMTP takes its HTTP port + 1).
                base = infra.free_port_block(2 * replicas, 23000, 32000)
                # The site's address is the balancer's; every other service's first process
                # keeps the service's address.
                known = [] if service == "pickup" else [self.config.ports[service]]
                self.replica_ports[service] = known + [base + 2 * i for i in range(replicas - len(known))]
        return self

    @staticmethod
    def process_name(service: str, replica: int = 1) -> str:
        return service if replica == 1 else f"{service}#{replica}"

    def port(self, service: str, replica: int = 1) -> int:
        """Where that process answers HTTP (with one replica: the service's address)."""
        ports = self.replica_ports.get(service)
        return ports[replica - 1] if ports else self.config.ports[service]

    def start(
        self,
        service: str,
        extra_env: Mapping[str, str] | None = None,
        wait: bool = True,
        fault: str | None = None,
        replica: int = 1,
    ) -> None:
        """Start `service` (its process number `replica`, see `with_replicas`); with `fault`,
        through `tests.support.faulty_service`, which builds that fault into this one process
        (see there for the faults it knows)."""
        module: tuple[str, ...] = ()
        if fault is not None:
            module = ("tests.support.faulty_service", service, fault)
            extra_env = {**(extra_env or {}), "PYTHONPATH": _with_root(os.environ.get("PYTHONPATH"))}
        port = self.port(service, replica)
        if port != self.config.ports[service]:
            extra_env = {**platform.replica_environment(self.config, service, port), **(extra_env or {})}
        log_path = self.log_path(service, replica)
        process = platform.start_service(self.config, service, log_path, extra_env, module=module)
        self.processes[self.process_name(service, replica)] = process
        if wait:
            platform.wait_ready(port, process, timeout=STARTUP_SECONDS, log_path=log_path)

    def start_all(self, extra_env: Mapping[str, str] | None = None) -> None:
        """Start the five services (`with_replicas`: that many processes of each); `extra_env`
        goes to each (a service reads its own prefix)."""
        if self.replicas > 1 and self.balancer_process is None:
            self.balancer_process = self._start_balancer()
        for replica in range(1, self.replicas + 1):
            for service in platform.SERVICES:
                self.start(service, extra_env, wait=False, replica=replica)
        for replica in range(1, self.replicas + 1):
            for service in platform.SERVICES:
                platform.wait_ready(
                    self.port(service, replica),
                    self.processes[self.process_name(service, replica)],
                    timeout=STARTUP_SECONDS,
                    log_path=self.log_path(service, replica),
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

    def _start_balancer(self) -> subprocess.Popen[bytes]:
        """The pickup site's address, spread over its replicas."""
        address = self.config.ports["pickup"]
        command = [sys.executable, "-m", "deploy.local.balancer", "--listen", f"127.0.0.1:{address}"]
        command += [arg for port in self.replica_ports["pickup"] for arg in ("--to", f"127.0.0.1:{port}")]
        self.logs.mkdir(parents=True, exist_ok=True)
        with self.log_path("balancer").open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        for _ in range(200):
            if infra.port_open("127.0.0.1", address):
                return process
            if process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the balancer did not listen on {address}; see {self.log_path('balancer')}")

    def stop(self, service: str, replica: int = 1) -> None:
        process = self.processes.pop(self.process_name(service, replica), None)
        if process is not None and process.poll() is None:
            platform.stop_process(process.pid)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            service, _, replica = name.partition("#")
            self.stop(service, int(replica or 1))
        if self.balancer_process is not None:
            platform.stop_process(self.balancer_process.pid, timeout=5)
            self.balancer_process.wait(timeout=10)
            self.balancer_process = None
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
