"""Infrastructure of a fault run's own, which it may restart, kill and refuse at will.

The machine's RabbitMQ (5672) and PostgreSQL (5432) serve every test session at once; a
fault run never touches them. It starts instead:

- `PrivateRabbit`: a second RabbitMQ node (Debian's `rabbitmq-server`) with its own node
  name, AMQP, distribution and management ports, data, logs, configuration, enabled-plugins
  file and Erlang cookie, all in a temporary directory; its file-handle limit raised to the
  hard limit (quorum queues hold file handles; deploy/local/start-rabbitmq.sh says why the
  default is too low);
- `PrivatePostgres`: a PostgreSQL cluster made by Debian's `initdb` in a temporary directory,
  on a port of its own, trust authentication, run as the `postgres` user when we are root
  (initdb refuses root);
- `PrivateSeaweed`: a SeaweedFS S3 store (deploy/local/seaweed.py) whose data directory and
  ports survive a restart;
- `RefusingSmtp`: the SMTP catcher (deploy/local/mailcatcher.py) with a switch that answers
  every recipient `451` (a transient refusal, as a mail server under maintenance does) for
  a given time.

Each part is a process group of our own, so `kill()` (SIGKILL to the group) and `stop()`
(graceful) reach exactly what we started. `restart()` keeps the data: a durable queue's
messages, committed rows and stored objects are still there after it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import resource
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from deploy.local.mailcatcher import MailCatcherHandler, MailStore
from deploy.local.mailcatcher import free_port as free_smtp_port
from deploy.local.seaweed import SeaweedS3, ports_free, start_seaweed, stop_seaweed
from tests.support.infra import free_port_block, port_open

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
STARTUP_SECONDS = 180.0  # a busy 2-core machine: a node or a cluster may take a minute


def _raise_file_limit() -> None:
    """In the child, before exec: as many file handles as the hard limit allows."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group `process` leads (it was started with its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    _wait_group_gone(process.pid, 30)


def _free_ports(count: int) -> list[int]:
    # Below the kernel's ephemeral range (32768+), where outgoing connections take ports.
    base = free_port_block(count, 24000, 32000)
    return [base + i for i in range(count)]


# ----------------------------------------------------------------------------- RabbitMQ


@dataclass
class PrivateRabbit:
    """A RabbitMQ node of our own: `start()`, `stop()`, `kill()`, `restart()`."""

    base: Path
    amqp_port: int
    dist_port: int
    management_port: int
    nodename: str
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @classmethod
    def create(cls, base: Path) -> PrivateRabbit:
        amqp, dist, management = _free_ports(3)
        base.mkdir(parents=True, exist_ok=True)
        node = cls(base, amqp, dist, management, f"lrefault{secrets.token_hex(4)}@localhost")
        node._write_files()
        return node

    def _write_files(self) -> None:
        (self.base / "mnesia").mkdir(exist_ok=True)
        (self.base / "log").mkdir(exist_ok=True)
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.amqp_port}\n"
            f"management.tcp.ip = 127.0.0.1\n"
            f"management.tcp.port = {self.management_port}\n"
            "loopback_users.guest = true\n"
            # Quorum queues snapshot and truncate their logs sooner: less disk, faster restarts.
            "raft.wal_max_size_bytes = 16777216\n"
        )
        (self.base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        # Our own (empty) environment file: the machine's names the machine's node.
        (self.base / "rabbitmq-env.conf").write_text("")
        cookie = self.base / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(20))
            cookie.chmod(0o400)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env |= {
            # The Erlang cookie is read from $HOME/.erlang.cookie, by the node and by rabbitmqctl.
            "HOME": str(self.base),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.base / "plugins-expand"),
            "RABBITMQ_PID_FILE": str(self.base / "node.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        return env

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    def ctl(self, *args: str, timeout: float = 60.0, check: bool = True) -> str:
        """`rabbitmqctl -n <this node> args...` (with this node's cookie)."""
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.nodename, *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    def start(self, timeout: float = STARTUP_SECONDS) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        log = (self.base / "log" / "console.log").open("ab")
        self.process = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.environment(),
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_raise_file_limit,
        )
        log.close()
        self.starts += 1
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.nodename} exited at start{self._tail()}")
            if port_open("127.0.0.1", self.amqp_port) and port_open("127.0.0.1", self.management_port):
                try:
                    if httpx.get(
                        f"{self.admin_url}/api/overview", auth=("guest", "guest"), timeout=5
                    ).is_success:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        raise RuntimeError(f"RabbitMQ node {self.nodename} not ready after {timeout:.0f} s{self._tail()}")

    def _tail(self) -> str:
        path = self.base / "log" / "console.log"
        lines = path.read_text(errors="replace").splitlines()[-30:] if path.exists() else []
        return "\n--- node log ---\n" + "\n".join(lines)

    def stop(self) -> None:
        """Stop gracefully (`rabbitmqctl stop`): queues are closed cleanly."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            self.ctl("stop", timeout=120, check=False)
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pass
        _kill_group(process)  # whatever the node left (erl_child_setup, inet_gethost)

    def kill(self) -> None:
        """SIGKILL the node: what a crash or an out-of-memory kill looks like."""
        process, self.process = self.process, None
        if process is not None:
            _kill_group(process)

    def restart(self, down_seconds: float = 0.0, hard: bool = False) -> None:
        (self.kill if hard else self.stop)()
        time.sleep(down_seconds)
        self.start()

    def api(self, path: str) -> Any:
        """GET the management API (`/api/<path>`)."""
        response = httpx.get(f"{self.admin_url}/api/{path}", auth=("guest", "guest"), timeout=30)
        response.raise_for_status()
        return response.json()

    def queue_depths(self, vhost: str = "/") -> dict[str, int]:
        """Every queue of `vhost` and its messages (ready + unacknowledged), from the node itself
        (the management API's figures lag by its collection interval)."""
        shown = self.ctl("-q", "list_queues", "-p", vhost, "name", "messages", "--no-table-headers")
        depths: dict[str, int] = {}
        for line in shown.splitlines():
            name, _, count = line.rpartition("\t")
            if name and count.strip().isdigit():
                depths[name.strip()] = int(count)
        return depths

    def close(self) -> None:
        self.kill()


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin (Debian's postgresql)")
    return found[-1].parent


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own: `start()`, `stop()`, `kill()`, `restart()`."""

    base: Path
    port: int
    user: str | None  # the system user the server runs as; None: ourselves
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @classmethod
    def create(cls) -> PrivatePostgres:
        # Directly under the system's temporary directory: when we are root, the server runs as
        # `postgres`, which must reach its directory (a pytest tmp_path is root's alone).
        base = Path(tempfile.mkdtemp(prefix="lre-fault-pg-"))
        user = "postgres" if os.geteuid() == 0 else None
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        (port,) = _free_ports(1)
        cluster = cls(base, port, user)
        cluster._run(
            [
                str(_postgres_bin() / "initdb"),
                "-D",
                str(base / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        return cluster

    def _as_user(self, argv: list[str]) -> list[str]:
        if self.user is None:
            return argv
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups", *argv]

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(self._as_user(argv), capture_output=True, text=True, timeout=300, cwd=self.base)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]}: {done.stderr or done.stdout}")

    @property
    def url(self) -> str:
        """Server URL without a database, as `deploy/local/platform.py` takes it."""
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def start(self, timeout: float = STARTUP_SECONDS) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        log = (self.base / "server.log").open("ab")
        self.process = subprocess.Popen(
            self._as_user(
                [
                    str(_postgres_bin() / "postgres"),
                    "-D",
                    str(self.base / "data"),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.base),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    # Five services' pools, the outbox relays and the checker's connections.
                    "-c",
                    "max_connections=300",
                    "-c",
                    "shared_buffers=64MB",
                    # A killed process, never a lost machine: what the OS holds survives, so
                    # durability to disk only costs the shared machine time.
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                ]
            ),
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited at start{self._tail()}")
            done = subprocess.run(
                [str(_postgres_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                timeout=30,
                check=False,
            )
            if done.returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError(f"PostgreSQL not ready after {timeout:.0f} s{self._tail()}")

    def _tail(self) -> str:
        path = self.base / "server.log"
        lines = path.read_text(errors="replace").splitlines()[-30:] if path.exists() else []
        return "\n--- server log ---\n" + "\n".join(lines)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): sessions are cut, committed work is kept."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
        _kill_group(process)

    def kill(self) -> None:
        """SIGKILL the server and its backends: crash recovery at the next start."""
        process, self.process = self.process, None
        if process is not None:
            _kill_group(process)

    def restart(self, down_seconds: float = 0.0, hard: bool = False) -> None:
        (self.kill if hard else self.stop)()
        time.sleep(down_seconds)
        self.start()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)


# ---------------------------------------------------------------------------- SeaweedFS


@dataclass
class PrivateSeaweed:
    """A SeaweedFS S3 store whose data and ports outlive `restart()`."""

    base: Path
    base_port: int
    access_key: str
    secret_key: str
    server: SeaweedS3 | None = None
    starts: int = 0

    @classmethod
    def create(cls, base: Path) -> PrivateSeaweed:
        for _ in range(20):
            # Admin gRPC sits at base+10008 (deploy/local/seaweed.py); all below 32768.
            port = free_port_block(11, 12000, 22500)
            if ports_free(port):
                return cls(base, port, "fault" + secrets.token_hex(6), secrets.token_urlsafe(24))
        raise RuntimeError("no free ports for SeaweedFS")

    @property
    def s3(self) -> SeaweedS3:
        """The store as the platform's configuration takes it (the endpoint is stable)."""
        return SeaweedS3(
            endpoint=f"http://127.0.0.1:{self.base_port}",
            access_key=self.access_key,
            secret_key=self.secret_key,
            pid=self.server.pid if self.server else 0,
        )

    def start(self, timeout: float = STARTUP_SECONDS) -> None:
        if self.server is not None:
            return
        deadline = time.monotonic() + 60
        while not ports_free(self.base_port) and time.monotonic() < deadline:
            time.sleep(0.5)  # the previous run's sockets
        self.server, _process = start_seaweed(
            self.base, self.base_port, self.access_key, self.secret_key, self.base / "weed.log", timeout
        )
        self.starts += 1

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            stop_seaweed(server.pid)

    def kill(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            _wait_group_gone(server.pid, 30)

    def restart(self, down_seconds: float = 0.0, hard: bool = False) -> None:
        (self.kill if hard else self.stop)()
        time.sleep(down_seconds)
        self.start()

    def close(self) -> None:
        self.stop()


# --------------------------------------------------------------------------------- SMTP


class _RefusingHandler(MailCatcherHandler):
    def __init__(self, store: MailStore, switch: RefusingSmtp) -> None:
        super().__init__(store)
        self.switch = switch

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.switch.refusing:
            self.switch.count_refusal()
            return "451 4.3.2 System not accepting network messages, try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@dataclass
class RefusingSmtp:
    """The mail catcher with a switch: `refuse_for(seconds)` answers every recipient with a
    transient `451` until then, as a provider's server under maintenance does."""

    store: MailStore
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_smtp_port)
    refused: int = 0
    _until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_RefusingHandler(self.store, self), hostname=self.host, port=self.port)
        self._controller.start()

    def close(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse_for(self, seconds: float) -> None:
        with self._lock:
            self._until = time.monotonic() + seconds

    @property
    def refusing(self) -> bool:
        with self._lock:
            return time.monotonic() < self._until

    def count_refusal(self) -> None:
        with self._lock:
            self.refused += 1


# ------------------------------------------------------------------------------ all four


@dataclass
class PrivateInfra:
    """RabbitMQ, PostgreSQL, S3 and SMTP, all our own."""

    rabbit: PrivateRabbit
    postgres: PrivatePostgres
    seaweed: PrivateSeaweed
    smtp: RefusingSmtp

    def close(self) -> None:
        for part in (self.smtp, self.seaweed, self.rabbit, self.postgres):
            with contextlib.suppress(Exception):
                part.close()


@contextlib.contextmanager
def private_infra(base: Path) -> Iterator[PrivateInfra]:
    """Start the four parts (in parallel where they can be); stop and remove them on leaving."""
    parts: list[Any] = []
    try:
        rabbit = PrivateRabbit.create(base / "rabbitmq")
        parts.append(rabbit)
        postgres = PrivatePostgres.create()
        parts.append(postgres)
        seaweed = PrivateSeaweed.create(base / "seaweed")
        parts.append(seaweed)
        smtp = RefusingSmtp(MailStore(base / "mail"))
        parts.append(smtp)
        errors: list[BaseException] = []

        def run(part: Any) -> None:
            try:
                part.start()
            except BaseException as exc:
                errors.append(exc)

        starters = [threading.Thread(target=run, args=(part,)) for part in (rabbit, postgres, seaweed)]
        for thread in starters:
            thread.start()
        smtp.start()
        for thread in starters:
            thread.join()
        if errors:
            raise errors[0]
        yield PrivateInfra(rabbit, postgres, seaweed, smtp)
    finally:
        for part in reversed(parts):
            with contextlib.suppress(Exception):
                part.close()
