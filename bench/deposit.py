"""Deposits through the archive against raw `minio` puts, and the memory of a 500 MiB zip.

    uv run python bench/deposit.py [--letters 48] [--rounds 5] [--workers 8] [--zip-mib 500]

Starts a SeaweedFS of its own (`deploy/local/seaweed.py`, data in a temporary directory) and
uses PostgreSQL at `--pg-url` (a database `lre_bench_deposit_<random>`, dropped at the end).

- **project**: each deposit is the archive's own path for a 1 MiB document as a sender system
  deposits it with `lre-send`: an upload granted for the letter id and the SHA-256 it declares
  (`archive.service_layer.uploads.UploadDesk.grant`: the upload row and a presigned PUT URL to the
  document's content key, written once), the PDF PUT to that URL (urllib3 in a worker thread,
  the HTTP client the raw side's minio uses), then the
  `SubmitLetter` that references the upload, as delivered by the bus (JSON body parsed into the
  contract), taken by `archive.service_layer.handlers.submit_letter`: every rule checked, the
  upload read once from the store with its SHA-256 computed as it streams and checked against
  the declared one (the PDF opened by pypdf from a spooled file), the letter and document rows,
  the item number and the `LetterDeposited` outbox row committed in one transaction. The
  broker hop itself is measured by `bench/bus.py`.
- **raw**: the same PDFs put with the raw `minio` client (`put_object`), as many at once.
- **embedded**, for comparison only: the same PDFs inside the `SubmitLetter` (base64 in its
  JSON), the other way the archive takes documents up to its 1 MiB limit; it shows why
  `lre-send` uploads documents over 512 KiB rather than embedding them.

Each uses `--workers` concurrent tasks (and as many threads for blocking calls), `--rounds`
rounds each, project, raw and embedded in turn, with fresh 1 MiB PDFs (distinct bytes, so
distinct objects) every round, after one unmeasured round of project and raw: every worker's
database connection, thread and HTTP connection is open and used once before timing starts.
The event loop is uvloop's, the one the services run on (uvicorn picks it).
The ratio is median project rate over median raw rate. The machine is the limit: both sides
use all of its CPU (the store's most of all), and a deposit adds to the raw PUT the archive's
one read of the bytes, its checks and its transaction.

The zip figure: documents totalling `--zip-mib` MiB (valid PDFs of 50 MiB) are put in the
store; a child process streams them as one zip through `archive.adapters.zipstream.stream_zip`
fed by `S3ContentStore.stream` (hash-checked) and reads it to the end; its peak RSS
(`VmHWM`, interpreter and imports included) is the figure.

Last line: `RESULT deposit_ratio=<project/raw> zip_peak_rss_mib=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import logging
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import asyncpg
import urllib3
import uvloop
from minio import Minio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archive.adapters.postgres import units_of_work  # noqa: E402
from archive.adapters.storage import BucketPlan, S3Buckets, S3ContentStore  # noqa: E402
from archive.adapters.zipstream import ZipEntry, stream_zip  # noqa: E402
from archive.bootstrap import MIGRATIONS  # noqa: E402
from archive.domain.submission import Limits  # noqa: E402
from archive.service_layer.handlers import submit_letter  # noqa: E402
from archive.service_layer.uploads import UploadDesk, UploadPolicy  # noqa: E402
from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER  # noqa: E402
from deploy.local.seaweed import ports_free, start_seaweed, stop_seaweed  # noqa: E402
from lre_shared import db, objects  # noqa: E402
from lre_shared.clock import now_utc  # noqa: E402
from lre_shared.contracts import Document, SubmitLetter  # noqa: E402

MIB = 1024 * 1024
J = TypeVar("J")
BUCKET = "bench-content"


def pdf_of_size(size: int, seed: bytes) -> bytes:
    """A valid PDF of exactly `size` bytes: one page whose content stream is padded with
    PDF comments drawn from `seed` (so every seed gives other bytes)."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
    ]

    def build(padding: int) -> bytes:
        line = hashlib.sha256(seed).hexdigest().encode()
        filler = (b"% " + line + b"\n") * (padding // (len(line) + 3) + 1)
        stream = b"BT ET\n" + filler[:padding]
        body = bytearray(head)
        offsets = []
        for number, obj in enumerate(objects, start=1):
            offsets.append(len(body))
            body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
        offsets.append(len(body))
        body += b"4 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (len(stream), stream)
        xref = len(body)
        body += b"xref\n0 5\n0000000000 65535 f \n"
        body += b"".join(b"%010d 00000 n \n" % o for o in offsets)
        body += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
        return bytes(body)

    first = build(0)
    padding = size - len(first)
    # The /Length digits grow with the padding: adjust once more for them.
    result = build(padding)
    result = build(padding - (len(result) - size))
    assert len(result) == size, (len(result), size)
    return result


def free_base_port() -> int:
    for _ in range(50):
        base = secrets.randbelow(2000) + 24000
        if ports_free(base) and ports_free(base + 10000):
            return base
    raise RuntimeError("no free ports for SeaweedFS")


def pdfs(count: int) -> list[bytes]:
    """`count` fresh 1 MiB PDFs, each of other bytes."""
    return [pdf_of_size(MIB, secrets.token_bytes(16)) for _ in range(count)]


async def run_workers(jobs: list[J], workers: int, one: Callable[[J], Awaitable[None]]) -> float:
    queue: asyncio.Queue[J] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(jobs) / (time.perf_counter() - started)


async def deposit_round(
    pool: asyncpg.Pool, store: S3ContentStore, http: urllib3.PoolManager, letters: int, workers: int
) -> float:
    limits, units = Limits(), units_of_work(lambda: pool)
    desk = UploadDesk(store, limits, None, UploadPolicy(), now_utc)

    async def one(pdf: bytes) -> None:
        letter_id = uuid.uuid4()
        async with units() as uow:
            grant = await desk.grant(
                uow.uploads,
                sender_id=DEMO_SENDER.id,
                filename="lettre.pdf",
                size=len(pdf),
                letter_id=letter_id,
                sha256=hashlib.sha256(pdf).hexdigest(),  # as lre-send declares it
            )
        # The sender's PUT, with urllib3 in a worker thread as the raw minio client does it.
        response = await asyncio.to_thread(
            http.request, "PUT", grant.url, body=pdf, headers=grant.headers, retries=False
        )
        if response.status != 200:
            raise RuntimeError(f"upload refused: {response.status}")
        body = SubmitLetter(
            correlation_id=letter_id,
            sender=DEMO_SENDER,
            recipient=DEMO_RECIPIENT,
            main_upload_id=grant.upload_id,
        ).to_json()
        command = SubmitLetter.model_validate_json(body)  # as the bus delivers it
        async with units() as uow:
            await submit_letter(command, uow, store=store, limits=limits, uploads=store)

    return await run_workers(pdfs(letters), workers, one)


async def embedded_round(pool: asyncpg.Pool, store: S3ContentStore, letters: int, workers: int) -> float:
    """The same PDFs embedded in the `SubmitLetter` (base64 in its JSON), the other way a
    sender may deposit them, for comparison: the archive checks them and puts them itself."""
    limits, units = Limits(), units_of_work(lambda: pool)

    async def one(pdf: bytes) -> None:
        body = SubmitLetter(
            correlation_id=uuid.uuid4(),
            sender=DEMO_SENDER,
            recipient=DEMO_RECIPIENT,
            main_document=Document(filename="lettre.pdf", content=pdf),
        ).to_json()
        command = SubmitLetter.model_validate_json(body)  # as the bus delivers it
        async with units() as uow:
            await submit_letter(command, uow, store=store, limits=limits)

    return await run_workers(pdfs(letters), workers, one)


async def raw_round(client: Minio, letters: int, workers: int) -> float:
    async def one(pdf: bytes) -> None:
        key = f"raw/{uuid.uuid4()}/{hashlib.sha256(pdf).hexdigest()}"
        await asyncio.to_thread(
            client.put_object, BUCKET, key, io.BytesIO(pdf), len(pdf), content_type="application/pdf"
        )

    return await run_workers(pdfs(letters), workers, one)


def put_zip_documents(client: Minio, total_mib: int, workdir: Path) -> list[tuple[str, str]]:
    """Documents of 50 MiB (valid PDFs, written to disk, never held whole in memory twice)
    totalling `total_mib`; returns (key, sha256) of each."""
    each = 50
    entries = []
    for index in range(max(1, total_mib // each)):
        pdf = pdf_of_size(each * MIB, secrets.token_bytes(16))
        digest = hashlib.sha256(pdf).hexdigest()
        path = workdir / "big.pdf"
        path.write_bytes(pdf)
        del pdf
        key = f"letters/zip-bench/{index:02d}-{digest}"
        client.fput_object(BUCKET, key, str(path), content_type="application/pdf")
        entries.append((key, digest))
    return entries


def zip_child(spec: str) -> None:
    """In a process of its own: stream the zip to the end, print the peak RSS in MiB."""
    config = json.loads(spec)
    store = S3ContentStore(
        objects.Store(config["endpoint"], config["access_key"], config["secret_key"], "us-east-1"), BUCKET
    )

    async def go() -> int:
        entries = [
            ZipEntry(f"document-{i:02d}.pdf", partial(store.stream, key, sha))
            for i, (key, sha) in enumerate(config["entries"])
        ]
        total = 0
        async for chunk in stream_zip(entries):
            total += len(chunk)
        return total

    total = asyncio.run(go())
    print(json.dumps({"zip_bytes": total, "peak_rss_mib": peak_rss_kib() / 1024}))


def peak_rss_kib() -> int:
    """This process's peak RSS: VmHWM, not ru_maxrss, which on Linux keeps the parent's
    resident size at fork across the exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    # The blocking PUTs of both sides run in asyncio's default executor: as many threads as
    # workers, or `--workers` would not mean that many PUTs at once (the default is cpu + 4).
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(args.workers))
    workdir = Path(tempfile.mkdtemp(prefix="lre-bench-deposit-"))
    tag = secrets.token_hex(4)
    db_url = f"{args.pg_url.rstrip('/').rsplit('/', 1)[0]}/lre_bench_deposit_{tag}"
    s3, _process = start_seaweed(
        workdir / "s3",
        free_base_port(),
        "bench" + secrets.token_hex(4),
        secrets.token_urlsafe(24),
        workdir / "weed.log",
    )
    pool: asyncpg.Pool | None = None
    try:
        await S3Buckets(objects.Store(s3.endpoint, s3.access_key, s3.secret_key, "us-east-1")).ensure(
            BucketPlan(
                content=BUCKET,
                content_expiry_days=30,
                evidence="bench-evidence",
                evidence_retention_days=365,
                identity="bench-identity",
            )
        )
        await db.migrate(db_url, MIGRATIONS)
        pool = await db.create_pool(db_url, args.workers)
        store = S3ContentStore(objects.Store(s3.endpoint, s3.access_key, s3.secret_key, "us-east-1"), BUCKET)
        client = s3.client()
        http = urllib3.PoolManager(maxsize=args.workers)
        # Warm-up, unmeasured: a whole round each, so every connection and thread is used.
        await deposit_round(pool, store, http, args.letters, args.workers)
        await raw_round(client, args.letters, args.workers)
        project, embedded, raw = [], [], []
        for round_ in range(1, args.rounds + 1):
            project.append(await deposit_round(pool, store, http, args.letters, args.workers))
            raw.append(await raw_round(client, args.letters, args.workers))
            embedded.append(await embedded_round(pool, store, args.letters, args.workers))
            print(
                f"round {round_}: project {project[-1]:.1f} deposits/s"
                f" ({project[-1]:.1f} MiB/s), raw {raw[-1]:.1f} puts/s,"
                f" embedded {embedded[-1]:.1f} deposits/s"
            )
        ratio = statistics.median(project) / statistics.median(raw)
        print(
            f"embedded instead of uploaded: {statistics.median(embedded) / statistics.median(raw):.2f}"
            " of the raw rate (lre-send uploads documents over 512 KiB)"
        )
        http.clear()

        entries = await asyncio.to_thread(put_zip_documents, client, args.zip_mib, workdir)
        spec = json.dumps(
            {
                "endpoint": s3.endpoint,
                "access_key": s3.access_key,
                "secret_key": s3.secret_key,
                "entries": entries,
            }
        )
        command = [sys.executable, __file__, "--zip-child", spec]
        child = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True)
        zipped = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"zip: {zipped['zip_bytes'] / MIB:.0f} MiB streamed, {len(entries)} documents")
        print(f"RESULT deposit_ratio={ratio:.2f} zip_peak_rss_mib={zipped['peak_rss_mib']:.0f}")
    finally:
        if pool is not None:
            await pool.close()
        stop_seaweed(s3.pid)
        shutil.rmtree(workdir, ignore_errors=True)
        admin = await asyncpg.connect(args.pg_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "lre_bench_deposit_{tag}" WITH (FORCE)')
        finally:
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Deposits vs raw minio puts; zip streaming memory.")
    parser.add_argument("--letters", type=int, default=48, help="1 MiB letters per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=8, help="concurrent deposits = concurrent puts")
    parser.add_argument("--zip-mib", type=int, default=500, help="size of the zipped letter")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--zip-child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.zip_child:
        zip_child(arguments.zip_child)
    else:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        uvloop.run(main(arguments))
