"""Evidence under object lock, as deployed: the five services configured exactly as `make run`
configures them (`deploy/local/platform.py`, on the test PKI). A letter's records are copied
by the signer to the bucket the archive service creates with compliance-mode object lock
(DESIGN §3), each marked `archived_at`; no one can delete a stored version; and
`lre verify --evidence-bucket` finds every record of the letter's bundle there, or names the
one that is missing."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.retention import Retention

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER, demo_pdf
from deploy.local.seaweed import SeaweedS3
from lre_shared.contracts import Document, SubmitLetter
from lre_shared.sender import submit_letter
from signer.adapters.seal_check import proof_attachments
from signer.entrypoints import cli
from tests.support.fixtures import SmtpServer
from tests.support.pki import TestPki
from tests.support.running import RunningPlatform

pytestmark = pytest.mark.e2e

EVIDENCE_BUCKET = "lre-evidence"  # the default of both the archive and the signer


@pytest.fixture(scope="module")
def platform_running(services: RunningPlatform, test_pki: TestPki) -> RunningPlatform:
    return services.start_on_test_pki(test_pki)


async def archived_letter(platform_running: RunningPlatform, smtp: SmtpServer) -> uuid.UUID:
    """A letter deposited and notified (two records), once the signer has archived all its records
    and issued its deposit proof (just after the record, `proof_jobs`)."""
    recipient = DEMO_RECIPIENT.model_copy(update={"email": f"locked-{uuid.uuid4().hex[:8]}@exemple.example"})
    command = SubmitLetter(
        correlation_id=uuid.uuid4(),
        sender=DEMO_SENDER,
        recipient=recipient,
        main_document=Document(
            filename="mise-en-demeure.pdf", content=demo_pdf("Locked " + uuid.uuid4().hex)
        ),
    )
    letter_id = await submit_letter(platform_running.amqp_url, command)
    await smtp.store.wait_for_async(lambda m: m["To"] == recipient.email, timeout=60)
    signer = await asyncpg.connect(platform_running.database_url("signer"))
    try:
        for _ in range(300):
            counts = await signer.fetchrow(
                "SELECT count(*) AS records, count(archived_at) AS archived,"
                " (SELECT count(*) FROM proof_jobs WHERE letter_id = $1) AS proofs_waiting"
                " FROM evidence WHERE letter_id = $1",
                letter_id,
            )
            if (
                counts["records"] >= 2
                and counts["archived"] == counts["records"]
                and not counts["proofs_waiting"]
            ):
                return letter_id
            await asyncio.sleep(0.2)
    finally:
        await signer.close()
    raise AssertionError(f"the records of letter {letter_id} were not all archived: {dict(counts)}")


@pytest.fixture(scope="module")
def letter_id(platform_running: RunningPlatform, smtp: SmtpServer) -> uuid.UUID:
    return asyncio.run(archived_letter(platform_running, smtp))


@pytest.fixture(scope="module")
def bundle(
    platform_running: RunningPlatform, letter_id: uuid.UUID, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "bundle"
    database = platform_running.database_url("signer")
    assert (
        cli.main(["export-bundle", "--letter", str(letter_id), "--out", str(out), "--database-url", database])
        == 0
    )
    return out


@pytest.fixture
def bucket_credentials(s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNER_EVIDENCE_S3_ENDPOINT", s3.endpoint)
    monkeypatch.setenv("SIGNER_EVIDENCE_S3_ACCESS_KEY", s3.access_key)
    monkeypatch.setenv("SIGNER_EVIDENCE_S3_SECRET_KEY", s3.secret_key)


async def stored_records(platform_running: RunningPlatform, letter_id: uuid.UUID) -> list[asyncpg.Record]:
    signer = await asyncpg.connect(platform_running.database_url("signer"))
    try:
        return await signer.fetch(
            "SELECT seq, record, seal, archived_at FROM evidence WHERE letter_id = $1 ORDER BY seq", letter_id
        )
    finally:
        await signer.close()


def test_a_letters_records_land_in_the_locked_bucket_and_cannot_be_deleted(
    platform_running: RunningPlatform, letter_id: uuid.UUID, s3: SeaweedS3
) -> None:
    rows = asyncio.run(stored_records(platform_running, letter_id))
    client = s3.client()
    assert client.get_object_lock_config(EVIDENCE_BUCKET).mode == COMPLIANCE

    for row in rows:
        assert row["archived_at"] is not None
        assert row["seal"] is not None  # on the test PKI every record is sealed
        key = f"letters/{letter_id}/records/{row['seq']:04d}"
        for suffix, stored in ((".json", row["record"]), (".seal.json", row["seal"])):
            stat = client.stat_object(EVIDENCE_BUCKET, key + suffix)
            retention = client.get_object_retention(EVIDENCE_BUCKET, key + suffix, version_id=stat.version_id)
            assert retention is not None
            assert retention.mode == COMPLIANCE
            assert retention.retain_until_date > datetime.now(UTC) + timedelta(days=365)
            response = client.get_object(EVIDENCE_BUCKET, key + suffix, version_id=stat.version_id)
            try:
                assert response.read() == bytes(stored)
            finally:
                response.close()
                response.release_conn()
            with pytest.raises(S3Error) as refused:
                client.remove_object(EVIDENCE_BUCKET, key + suffix, version_id=stat.version_id)
            assert refused.value.code == "AccessDenied"


@pytest.mark.usefixtures("bucket_credentials")
def test_lre_verify_finds_every_record_of_the_bundle_locked_in_the_bucket(
    bundle: Path, test_pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(
        ["verify", str(bundle), "--trust", str(test_pki.root_file), "--evidence-bucket", EVIDENCE_BUCKET]
    )

    out = capsys.readouterr()
    assert status == 0, out.err
    assert "VERIFIED" in out.out
    assert "records/0001.json: in the evidence bucket byte for byte, compliance-locked" in out.out
    assert "records/0001.seal.json: in the evidence bucket byte for byte, compliance-locked" in out.out
    assert "ARCHIVED:" in out.out


def test_the_deposit_proof_carries_the_sealed_record_it_attests_as_lre_verify_checks(
    bundle: Path, test_pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    (deposit,) = (bundle / "proofs").glob("deposit_*.pdf")

    status = cli.main(["verify", str(bundle), "--trust", str(test_pki.root_file)])

    out = capsys.readouterr()
    assert status == 0, out.err
    assert proof_attachments(deposit.read_bytes()) == {
        "0001.json": (bundle / "records" / "0001.json").read_bytes(),
        "0001.seal.json": (bundle / "records" / "0001.seal.json").read_bytes(),
    }
    assert (
        f"proof {deposit.name}: carries records/0001.json and its seal, as the bundle holds them" in out.out
    )


@pytest.mark.usefixtures("bucket_credentials")
def test_lre_verify_names_a_record_missing_from_the_bucket(
    bundle: Path, letter_id: uuid.UUID, s3: SeaweedS3, test_pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    # A locked bucket holding every record of the letter but the last one.
    partial = f"lre-evidence-partial-{uuid.uuid4().hex[:8]}"
    client = s3.client()
    client.make_bucket(partial, object_lock=True)
    records = sorted((bundle / "records").glob("*.json"))
    last = max(int(path.name[:4]) for path in records)
    retain_until = (datetime.now(UTC) + timedelta(days=400)).replace(microsecond=0)
    for path in records:
        if int(path.name[:4]) == last:
            continue
        content = path.read_bytes()
        client.put_object(
            partial,
            f"letters/{letter_id}/records/{path.name}",
            io.BytesIO(content),
            len(content),
            retention=Retention(COMPLIANCE, retain_until),
        )

    status = cli.main(
        ["verify", str(bundle), "--trust", str(test_pki.root_file), "--evidence-bucket", partial]
    )

    out = capsys.readouterr()
    assert status == 1
    key = f"letters/{letter_id}/records/{last:04d}.json"
    missing = f"records/{last:04d}.json: missing from the evidence bucket (no object {key})"
    assert missing in out.err
    assert "records/0001.json: in the evidence bucket byte for byte" in out.err
    assert "NOT ARCHIVED" in out.err
