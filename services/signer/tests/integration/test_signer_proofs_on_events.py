"""Proof PDFs issued on the events that need one (CPCE R.53-2: deposit; R.53-3: receipt,
refusal), sealed PAdES B-LT in the transaction that records the event; and a real letter's
bundle exported from the signer's database (`lre export-bundle`) that `lre verify` accepts."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from minio.commonconfig import COMPLIANCE

from deploy.local.seaweed import SeaweedS3
from lre_shared.contracts import LetterRefused, now_utc
from services.signer.tests.integration.test_signer_seals import (
    DOCUMENT,
    LRE,
    deposited,
    life_of,
    lre_verify,
    publish,
    sealed_settings,
    start,
    stop,
    wait_for_proofs,
    wait_for_records,
    with_bucket,
)
from signer.adapters.seal_check import check_proof, proof_attachments
from signer.settings import SignerSettings
from tests.support.pki import TestPki

pytestmark = pytest.mark.integration


def with_proofs(pki: TestPki, amqp_url: str, database_url: str) -> SignerSettings:
    return sealed_settings(pki, amqp_url, database_url).model_copy(
        update={"seal_root_files": (pki.root_file,)}
    )


def lre_export(
    letter_id: uuid.UUID, out: Path, database_url: str, *documents: Path
) -> subprocess.CompletedProcess[str]:
    args = [
        str(LRE),
        "export-bundle",
        "--letter",
        str(letter_id),
        "--out",
        str(out),
        "--database-url",
        database_url,
    ]
    for document in documents:
        args += ["--document", str(document)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
async def accepted_and_refused(
    test_pki: TestPki, amqp_url: str, database_url: str
) -> tuple[uuid.UUID, str, uuid.UUID, str]:
    """One letter deposited, notified and accepted; another deposited and refused."""
    runtime = await start(with_proofs(test_pki, amqp_url, database_url), amqp_url)
    try:
        accepted, refused = deposited(), deposited()
        await publish(amqp_url, accepted, refused)
        await wait_for_records(runtime.pool, accepted.correlation_id, 1)
        for count, message in enumerate(life_of(accepted), start=2):
            await publish(amqp_url, message)
            await wait_for_records(runtime.pool, accepted.correlation_id, count)
        await wait_for_records(runtime.pool, refused.correlation_id, 1)
        await publish(
            amqp_url,
            LetterRefused(
                correlation_id=refused.correlation_id, item_number=refused.item_number, refused_at=now_utc()
            ),
        )
        await wait_for_records(runtime.pool, refused.correlation_id, 2)
        await wait_for_proofs(runtime.pool, accepted.correlation_id, refused.correlation_id)
    finally:
        await stop(runtime)
    return accepted.correlation_id, accepted.item_number, refused.correlation_id, refused.item_number


async def test_deposit_acceptance_and_refusal_each_issue_their_sealed_proof(
    accepted_and_refused: tuple[uuid.UUID, str, uuid.UUID, str], database_url: str, test_pki: TestPki
) -> None:
    accepted, accepted_number, refused, refused_number = accepted_and_refused
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT p.letter_id, p.kind, p.filename, p.pdf, e.event FROM proofs p"
            " JOIN evidence e USING (evidence_id) WHERE p.letter_id = ANY($1::uuid[]) ORDER BY e.recorded_at",
            [accepted, refused],
        )
    finally:
        await connection.close()
    issued = {(row["letter_id"], row["kind"], row["filename"], row["event"]) for row in rows}

    assert issued == {
        (accepted, "deposit", f"deposit_{accepted_number}.pdf", "SubmissionAcceptance"),
        (accepted, "receipt", f"receipt_{accepted_number}.pdf", "ConsignmentAcceptance"),
        (refused, "deposit", f"deposit_{refused_number}.pdf", "SubmissionAcceptance"),
        (refused, "refusal", f"refusal_{refused_number}.pdf", "ConsignmentRejection"),
        # the refusal settles the letter's fate: its envelope follows (CPCE R.53-3)
        (refused, "envelope", f"pli_{refused_number}.pdf", "ConsignmentRejection"),
    }
    for row in rows:
        report = await check_proof(row["filename"], bytes(row["pdf"]), trust_roots=[test_pki.cert("root")])
        assert report.failures == [], report.failures


async def test_a_real_letters_exported_bundle_verifies(
    accepted_and_refused: tuple[uuid.UUID, str, uuid.UUID, str],
    database_url: str,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    accepted, number, _, _ = accepted_and_refused
    document = tmp_path / "mise-en-demeure.pdf"
    document.write_bytes(DOCUMENT)

    exported = lre_export(accepted, tmp_path / "bundle.zip", database_url, document)
    result = lre_verify(tmp_path / "bundle.zip", test_pki.root_file)

    assert exported.returncode == 0, exported.stderr
    assert f"exported 4 records and 2 proofs of letter {accepted}" in exported.stdout
    with zipfile.ZipFile(tmp_path / "bundle.zip") as archive:
        assert f"proofs/receipt_{number}.pdf" in archive.namelist()
    assert result.returncode == 0, result.stderr
    assert "document mise-en-demeure.pdf: SHA-256 matches the evidence" in result.stdout
    assert f"proof receipt_{number}.pdf: PAdES seal intact" in result.stdout
    assert "chain: 4 records, positions 1 to 4, no gap" in result.stdout


async def test_a_record_removed_from_a_real_letters_export_is_named(
    accepted_and_refused: tuple[uuid.UUID, str, uuid.UUID, str],
    database_url: str,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    accepted, _, _, _ = accepted_and_refused
    exported = lre_export(accepted, tmp_path / "bundle", database_url)
    (tmp_path / "bundle" / "records" / "0002.json").unlink()
    (tmp_path / "bundle" / "records" / "0002.seal.json").unlink()

    result = lre_verify(tmp_path / "bundle", test_pki.root_file)

    assert exported.returncode == 0, exported.stderr
    assert result.returncode == 1
    assert "FAIL  record 2: missing from the chain: record 3 follows record 1" in result.stderr


async def test_exporting_a_letter_with_no_evidence_says_so(
    accepted_and_refused: tuple[uuid.UUID, str, uuid.UUID, str], database_url: str, tmp_path: Path
) -> None:
    letter = uuid.uuid4()

    result = lre_export(letter, tmp_path / "bundle", database_url)

    assert result.returncode == 1
    assert f"no evidence on record for letter {letter}" in result.stderr


async def test_proofs_reach_the_evidence_bucket_under_compliance_lock(
    test_pki: TestPki, amqp_url: str, database_url: str, s3: SeaweedS3
) -> None:
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    runtime = await start(with_bucket(with_proofs(test_pki, amqp_url, database_url), s3, bucket), amqp_url)
    try:
        letter = deposited()
        await publish(amqp_url, letter)
        await wait_for_records(runtime.pool, letter.correlation_id, 1, table="proofs")
        deadline = asyncio.get_running_loop().time() + 30
        while await runtime.pool.fetchval(
            "SELECT archived_at IS NULL FROM proofs WHERE letter_id = $1", letter.correlation_id
        ):
            assert asyncio.get_running_loop().time() < deadline, "proof not archived in time"
            await asyncio.sleep(0.1)
        stored = bytes(
            await runtime.pool.fetchval("SELECT pdf FROM proofs WHERE letter_id = $1", letter.correlation_id)
        )
    finally:
        await stop(runtime)

    client = s3.client()
    key = f"letters/{letter.correlation_id}/proofs/deposit_{letter.item_number}.pdf"
    stat = client.stat_object(bucket, key)
    retention = client.get_object_retention(bucket, key, version_id=stat.version_id)
    assert retention is not None
    assert retention.mode == COMPLIANCE
    assert retention.retain_until_date > datetime.now(UTC) + timedelta(days=365)
    response = client.get_object(bucket, key)
    try:
        assert response.read() == stored
    finally:
        response.close()
        response.release_conn()


async def test_each_proof_carries_the_sealed_records_it_attests(
    accepted_and_refused: tuple[uuid.UUID, str, uuid.UUID, str],
    database_url: str,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    _, _, refused, number = accepted_and_refused
    bundle = tmp_path / "bundle"
    exported = lre_export(refused, bundle, database_url)
    proofs = {path.name: proof_attachments(path.read_bytes()) for path in (bundle / "proofs").iterdir()}
    records = {path.name: path.read_bytes() for path in (bundle / "records").iterdir()}

    result = lre_verify(bundle, test_pki.root_file)

    assert exported.returncode == 0, exported.stderr
    # the deposit's record in its proof, the refusal's in its; every record in the envelope
    assert sorted(proofs[f"deposit_{number}.pdf"]) == ["0001.json", "0001.seal.json"]
    assert sorted(proofs[f"refusal_{number}.pdf"]) == ["0002.json", "0002.seal.json"]
    assert proofs[f"pli_{number}.pdf"] == records
    assert proofs[f"refusal_{number}.pdf"]["0002.json"] == records["0002.json"]
    assert result.returncode == 0, result.stderr
    assert (
        f"proof pli_{number}.pdf: carries records/0002.json and its seal, as the bundle holds them"
    ) in result.stdout


async def test_a_proof_alone_has_the_seals_of_the_records_it_carries_checked(
    accepted_and_refused: tuple[uuid.UUID, str, uuid.UUID, str],
    database_url: str,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    _, _, refused, number = accepted_and_refused
    lre_export(refused, tmp_path / "bundle", database_url)
    alone = tmp_path / "alone" / "proofs"
    alone.mkdir(parents=True)
    (alone / f"refusal_{number}.pdf").write_bytes(
        (tmp_path / "bundle" / "proofs" / f"refusal_{number}.pdf").read_bytes()
    )

    result = lre_verify(tmp_path / "alone", test_pki.root_file)

    # not verified (a proof is not the evidence: no record), but what it carries is checked
    assert result.returncode == 1
    assert (
        f"ok    proof refusal_{number}.pdf, attached 0002.json: seal intact, by LRE TEST Provider"
        in result.stderr
    )
    assert f"proof refusal_{number}.pdf, attached 0002.json: timestamped" in result.stderr
