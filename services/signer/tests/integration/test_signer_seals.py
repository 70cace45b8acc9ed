"""Sealed evidence on the real parts and the test PKI (certomancer: CA, TSA, OCSP, CRL):
every record sealed (CAdES) and timestamped (RFC 3161), and `lre verify` naming each
tampering of a bundle."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import asyncpg
import pytest
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from pydantic import SecretStr

from deploy.local.demo import DEMO_RECIPIENT, DEMO_SENDER
from deploy.local.seaweed import SeaweedS3
from lre_shared.bus import broker_user
from lre_shared.contracts import (
    LetterAccepted,
    LetterDeposited,
    LetterRefused,
    Message,
    NoticeChannel,
    NoticeFailed,
    NoticeSent,
    StoredDocument,
    now_utc,
)
from lre_shared.runtime import ServiceRuntime
from signer.adapters.bundle import load_bundle, write_bundle
from signer.adapters.evidence_store import EvidenceBucketError
from signer.adapters.pdf import PadesSealer, render_pdf
from signer.adapters.seal_check import check_seal
from signer.adapters.sealing import CadesSealer, SealKeyError, load_signer, timestamper
from signer.bootstrap import bootstrap, build_sealer
from signer.domain.evidence import (
    NON_QUALIFIED_LABEL,
    UNSEALED_LABEL,
    EvidenceEvent,
    SealAssurance,
    build_record,
)
from signer.domain.merkle import RecordSeal
from signer.domain.proofs import DocumentFact, EvidenceFact, LetterFacts, Party, ProofKind, Provider, proof
from signer.domain.verification import StoredRecord
from signer.settings import SignerSettings
from tests.support.bus import publish as publish  # other signer test modules import it from here
from tests.support.bus import purge_queues
from tests.support.documents import one_byte_changed
from tests.support.pki import TestPki

pytestmark = pytest.mark.integration

LRE = Path(sys.executable).parent / "lre"
DOCUMENT = b"%PDF-1.7\n% mise en demeure de test\n"


def sealed_settings(pki: TestPki, amqp_url: str, database_url: str) -> SignerSettings:
    return SignerSettings(
        amqp_url=amqp_url,
        database_url=database_url,
        http_port=0,
        outbox_poll_seconds=0.2,
        seal_key_file=pki.key_file("seal"),
        seal_cert_file=pki.cert_file("seal"),
        seal_chain_files=pki.chain_files,
        tsa_url=pki.tsa_url,
        trusted_publishers=(broker_user(amqp_url),),  # the tests publish as the platform's user
    )


async def wait_for_proofs(pool: asyncpg.Pool, *letter_ids: uuid.UUID) -> None:
    """Until the proof issuer has issued every proof the letters' records asked for."""
    deadline = asyncio.get_running_loop().time() + 60.0
    while await pool.fetchval(
        "SELECT count(*) FROM proof_jobs WHERE letter_id = ANY($1::uuid[])", letter_ids
    ):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"proofs still waiting to be issued for {letter_ids}")
        await asyncio.sleep(0.05)


COUNTS = {
    "evidence": "SELECT count(*) FROM evidence WHERE letter_id = $1",
    "proofs": "SELECT count(*) FROM proofs WHERE letter_id = $1",
}


async def wait_for_records(
    pool: asyncpg.Pool, letter_id: uuid.UUID, count: int, *, table: Literal["evidence", "proofs"] = "evidence"
) -> None:
    """Until the letter has `count` rows in `table`: its evidence records, or (`proofs`) the
    proof PDFs the issuer makes after their commits."""
    deadline = asyncio.get_running_loop().time() + 30.0
    while await pool.fetchval(COUNTS[table], letter_id) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"fewer than {count} rows in {table} for {letter_id}")
        await asyncio.sleep(0.05)


async def start(settings: SignerSettings, amqp_url: str) -> ServiceRuntime:
    runtime = bootstrap(settings)
    await runtime.startup()
    await purge_queues(amqp_url, runtime)
    await runtime.bus.broker.start()
    return runtime


async def stop(runtime: ServiceRuntime) -> None:
    await runtime.bus.broker.stop()
    await runtime.after_shutdown()


def deposited() -> LetterDeposited:
    return LetterDeposited(
        correlation_id=uuid.uuid4(),
        item_number=f"{uuid.uuid4().int % 10**12:012d}",
        sender=DEMO_SENDER,
        recipient=DEMO_RECIPIENT,
        documents=(
            StoredDocument(
                document_id=uuid.uuid4(),
                filename="mise-en-demeure.pdf",
                size=len(DOCUMENT),
                sha256=hashlib.sha256(DOCUMENT).hexdigest(),
            ),
        ),
        verification_policy="default",
        deposited_at=now_utc() - timedelta(minutes=5),
    )


def life_of(letter: LetterDeposited) -> list[Message]:
    return [
        NoticeFailed(
            correlation_id=letter.correlation_id,
            notice_id=uuid.uuid4(),
            item_number=letter.item_number,
            channel=NoticeChannel.email,
            address=letter.recipient.email,
            reason="SMTP 451: try again later",
            permanent=False,
        ),
        NoticeSent(
            correlation_id=letter.correlation_id,
            notice_id=uuid.uuid4(),
            item_number=letter.item_number,
            channel=NoticeChannel.email,
            address=letter.recipient.email,
            sent_at=now_utc(),
            provider_message_id=f"<{uuid.uuid4().hex}@lre.example>",
        ),
        LetterAccepted(
            correlation_id=letter.correlation_id, item_number=letter.item_number, accepted_at=now_utc()
        ),
    ]


@pytest.fixture
async def sealed_bundle(test_pki: TestPki, amqp_url: str, database_url: str, tmp_path: Path) -> Path:
    """A letter deposited, notice failed then sent, accepted: four sealed records, and its document."""
    runtime = await start(sealed_settings(test_pki, amqp_url, database_url), amqp_url)
    try:
        letter = deposited()
        await publish(amqp_url, letter)
        await wait_for_records(runtime.pool, letter.correlation_id, 1)
        for count, message in enumerate(life_of(letter), start=2):
            await publish(amqp_url, message)
            await wait_for_records(runtime.pool, letter.correlation_id, count)
        bundle = await load_bundle(runtime.pool, letter.correlation_id)
    finally:
        await stop(runtime)
    bundle.documents["mise-en-demeure.pdf"] = DOCUMENT
    bundle.proofs[f"deposit_{letter.item_number}.pdf"] = await proof_of_deposit(test_pki, letter)
    write_bundle(tmp_path / "bundle", bundle)
    return tmp_path / "bundle"


async def proof_of_deposit(pki: TestPki, letter: LetterDeposited) -> bytes:
    facts = LetterFacts(
        item_number=letter.item_number,
        sender=Party(letter.sender.name, letter.sender.email),
        recipient=Party(
            f"{letter.recipient.first_name} {letter.recipient.last_name}", letter.recipient.email
        ),
        deposited_at=letter.deposited_at,
        documents=tuple(DocumentFact(d.filename, d.sha256) for d in letter.documents),
        policy_id="urn:lre:policy:fr_lre:v1",
    )
    evidence = EvidenceFact(EvidenceEvent.submission_acceptance, letter.deposited_at, "e-1", "b" * 64)
    signer = load_signer(pki.key_file("seal"), cert_file=pki.cert_file("seal"), chain_files=pki.chain_files)
    named = Provider(
        "LRE Démo SAS", "RCS Paris 000 000 000", "Paris", facts.policy_id, SealAssurance(sealed=True)
    )
    sealer = PadesSealer(signer, timestamper(pki.tsa_url), trust_roots=[pki.cert("root")], provider=named)
    try:
        return await sealer.seal(
            render_pdf(proof(ProofKind.deposit, facts, evidence, SealAssurance(sealed=True)), named)
        )
    finally:
        await sealer.close()


def lre_verify(bundle: Path, *trust: Path) -> subprocess.CompletedProcess[str]:
    args = [str(LRE), "verify", str(bundle)]
    for root in trust:
        args += ["--trust", str(root)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


# ----------------------------------------------------------------------------- sealing


def first_record(event: EvidenceEvent, sealer: CadesSealer) -> bytes:
    """A letter's first record of `event`, labelled as `sealer` seals."""
    body, _ = build_record(
        evidence_id=uuid.uuid4(),
        event=event,
        event_time=datetime.now(UTC),
        letter_id=uuid.uuid4(),
        item_number="799273987130",
        details={"reason": "test"},
        policy_id="urn:lre:policy:test",
        seq=1,
        previous_sha256=None,
        seal=sealer.assurance,
    )
    return body


async def assert_sealed_and_verified(sealer: CadesSealer, body: bytes, pki: TestPki) -> None:
    """`body` sealed by `sealer` (closed after), the seal and its timestamp checked offline."""
    try:
        seal = await sealer.seal(body)
    finally:
        await sealer.close()
    report = await check_seal(
        StoredRecord("records/0001.json", body), seal, claims_sealed=True, trust_roots=[pki.cert("root")]
    )

    assert report.failures == []
    assert any("seal intact, by LRE TEST Provider evidence seal" in line for line in report.passed)
    assert any("by LRE TEST Time-Stamping Authority" in line for line in report.passed)


@pytest.mark.parametrize("event", list(EvidenceEvent), ids=lambda e: e.value)
async def test_every_event_type_is_sealed_and_timestamped_by_the_test_tsa(
    test_pki: TestPki, event: EvidenceEvent
) -> None:
    sealer = CadesSealer.from_files(
        test_pki.key_file("seal"),
        tsa_url=test_pki.tsa_url,
        cert_file=test_pki.cert_file("seal"),
        chain_files=test_pki.chain_files,
    )
    body = first_record(event, sealer)

    await assert_sealed_and_verified(sealer, body, test_pki)
    assert json.loads(body)["seal"]["label"] == "non qualifié"


async def test_records_sealed_at_once_share_one_batch_seal_and_each_verifies(test_pki: TestPki) -> None:
    sealer = CadesSealer.from_files(
        test_pki.key_file("seal"),
        tsa_url=test_pki.tsa_url,
        cert_file=test_pki.cert_file("seal"),
        chain_files=test_pki.chain_files,
    )
    records = [f'{{"seq":{n}}}'.encode() for n in range(1, 21)]

    try:
        seals = await asyncio.gather(*(sealer.seal(record) for record in records))
    finally:
        await sealer.close()
    reports = [
        await check_seal(StoredRecord(f"r{n}", r), s, claims_sealed=True, trust_roots=[test_pki.cert("root")])
        for n, (r, s) in enumerate(zip(records, seals, strict=True))
    ]
    swapped = await check_seal(
        StoredRecord("r", records[1]), seals[0], claims_sealed=True, trust_roots=[test_pki.cert("root")]
    )

    assert all(report.failures == [] for report in reports)
    assert len({RecordSeal.from_bytes(seal).cms for seal in seals}) < len(records)  # batched
    assert [str(f) for f in swapped.failures] == [
        "r: the seal does not match the record: the record was altered after sealing"
    ]


async def test_a_pkcs12_seal_key_seals_as_well(test_pki: TestPki, amqp_url: str) -> None:
    settings = SignerSettings(
        amqp_url=amqp_url,
        database_url="postgresql://unused/unused",
        seal_key_file=test_pki.pkcs12_file("seal", b"test-only"),
        seal_key_password="test-only",
        seal_chain_files=test_pki.chain_files,
        tsa_url=test_pki.tsa_url,
    )
    sealer = build_sealer(settings)

    seal = await sealer.seal(b'{"a":1}')
    report = await check_seal(
        StoredRecord("r", b'{"a":1}'), seal, claims_sealed=True, trust_roots=[test_pki.cert("root")]
    )

    assert sealer.assurance == SealAssurance(sealed=True, qualified=False)
    assert report.failures == []


def test_a_seal_key_that_cannot_be_read_stops_the_start(test_pki: TestPki, tmp_path: Path) -> None:
    wrong = tmp_path / "seal.p12"
    wrong.write_bytes(b"not a PKCS#12 file")

    with pytest.raises((SealKeyError, ValueError)):
        build_sealer(
            SignerSettings(
                amqp_url="amqp://unused",
                database_url="postgresql://unused/unused",
                seal_key_file=wrong,
                tsa_url=test_pki.tsa_url,
            )
        )


# ------------------------------------------------------------------ stored and verified


async def test_the_signer_stores_each_record_sealed_and_labelled_non_qualifie(
    sealed_bundle: Path, test_pki: TestPki
) -> None:
    records = sorted((sealed_bundle / "records").glob("[0-9][0-9][0-9][0-9].json"))
    events = [json.loads(r.read_bytes())["event"] for r in records]

    assert events == [
        "SubmissionAcceptance",
        "NotificationForAcceptanceFailure",
        "NotificationForAcceptance",
        "ConsignmentAcceptance",
    ]
    for record in records:
        assert json.loads(record.read_bytes())["seal"]["label"] == NON_QUALIFIED_LABEL
        assert record.with_suffix(".seal.json").exists()


async def test_lre_verify_accepts_an_intact_bundle(sealed_bundle: Path, test_pki: TestPki) -> None:
    result = lre_verify(sealed_bundle, test_pki.root_file)

    assert result.returncode == 0, result.stderr
    assert "VERIFIED" in result.stdout
    assert "document mise-en-demeure.pdf: SHA-256 matches the evidence" in result.stdout
    assert "PAdES seal intact, by LRE TEST Provider evidence seal, timestamped, B-LT" in result.stdout


async def test_lre_verify_names_one_changed_byte_in_a_proof_pdf(
    sealed_bundle: Path, test_pki: TestPki
) -> None:
    (pdf,) = (sealed_bundle / "proofs").glob("deposit_*.pdf")
    original = pdf.read_bytes()
    pdf.write_bytes(one_byte_changed(original))

    result = lre_verify(sealed_bundle, test_pki.root_file)

    assert result.returncode == 1
    assert f"FAIL  proof {pdf.name}: the seal does not match the PDF: the proof was altered" in result.stderr


async def test_lre_verify_accepts_the_bundle_as_a_zip(sealed_bundle: Path, test_pki: TestPki) -> None:
    archive = shutil.make_archive(str(sealed_bundle.parent / "bundle"), "zip", sealed_bundle)

    result = lre_verify(Path(archive), test_pki.root_file)

    assert result.returncode == 0, result.stderr


async def test_lre_verify_names_one_changed_byte_in_a_record(sealed_bundle: Path, test_pki: TestPki) -> None:
    record = sealed_bundle / "records" / "0002.json"
    body = record.read_bytes()
    record.write_bytes(body.replace(b"SMTP 451", b"SMTP 452", 1))

    result = lre_verify(sealed_bundle, test_pki.root_file)

    assert result.returncode == 1
    assert "FAIL  records/0002.json: the seal does not match the record" in result.stderr
    assert "FAIL  records/0003.json: previous_sha256 does not match record 2" in result.stderr


async def test_lre_verify_names_a_record_removed_from_the_middle(
    sealed_bundle: Path, test_pki: TestPki
) -> None:
    (sealed_bundle / "records" / "0002.json").unlink()
    (sealed_bundle / "records" / "0002.seal.json").unlink()

    result = lre_verify(sealed_bundle, test_pki.root_file)

    assert result.returncode == 1
    assert "FAIL  record 2: missing from the chain: record 3 follows record 1" in result.stderr


async def test_lre_verify_names_a_wrong_document(sealed_bundle: Path, test_pki: TestPki) -> None:
    (sealed_bundle / "documents" / "mise-en-demeure.pdf").write_bytes(DOCUMENT + b"%%EOF\n")

    result = lre_verify(sealed_bundle, test_pki.root_file)

    assert result.returncode == 1
    assert "FAIL  document mise-en-demeure.pdf: SHA-256" in result.stderr
    assert "not the deposited document" in result.stderr


async def test_lre_verify_names_a_removed_seal(sealed_bundle: Path, test_pki: TestPki) -> None:
    (sealed_bundle / "records" / "0003.seal.json").unlink()

    result = lre_verify(sealed_bundle, test_pki.root_file)

    assert result.returncode == 1
    assert "FAIL  records/0003.json: its seal is missing from the bundle" in result.stderr


async def test_lre_verify_refuses_seals_that_do_not_chain_to_the_given_root(
    sealed_bundle: Path, test_pki: TestPki
) -> None:
    result = lre_verify(sealed_bundle, test_pki.cert_file("recipient"))

    assert result.returncode == 1
    assert "does not chain to a trusted root" in result.stderr


async def test_lre_verify_without_a_trusted_root_fails(sealed_bundle: Path) -> None:
    result = lre_verify(sealed_bundle)

    assert result.returncode == 1
    assert "FAIL  trust: no trusted root given (--trust)" in result.stderr


async def test_an_unsealed_signer_says_so_in_every_record_and_lre_verify_refuses_it(
    amqp_url: str, database_url: str, tmp_path: Path, test_pki: TestPki
) -> None:
    runtime = await start(
        SignerSettings(amqp_url=amqp_url, database_url=database_url, http_port=0, outbox_poll_seconds=0.2),
        amqp_url,
    )
    try:
        letter = deposited()
        await publish(amqp_url, letter)
        await wait_for_records(runtime.pool, letter.correlation_id, 1)
        refused = LetterRefused(
            correlation_id=letter.correlation_id, item_number=letter.item_number, refused_at=now_utc()
        )
        await publish(amqp_url, refused)
        await wait_for_records(runtime.pool, letter.correlation_id, 2)
        bundle = await load_bundle(runtime.pool, letter.correlation_id)
        labels = await runtime.pool.fetch(
            "SELECT seal, seal_label FROM evidence WHERE letter_id = $1", letter.correlation_id
        )
    finally:
        await stop(runtime)
    write_bundle(tmp_path / "bundle", bundle)

    assert [json.loads(r.body)["seal"]["label"] for r in bundle.records] == [UNSEALED_LABEL] * 2
    assert bundle.proofs == {}  # no seal key: no proof PDF is issued
    assert {(row["seal"], row["seal_label"]) for row in labels} == {(None, UNSEALED_LABEL)}
    result = lre_verify(tmp_path / "bundle", test_pki.root_file)
    assert result.returncode == 1
    assert (
        "FAIL  records/0001.json: unsealed (no seal key was configured when it was recorded)" in result.stderr
    )


# ---------------------------------------------------------------------------- settings


def test_a_qualified_configuration_without_an_hsm_and_a_qualified_tsa_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="refusing to start") as error:
        SignerSettings(
            amqp_url="amqp://unused",
            database_url="postgresql://unused/unused",
            qualified=True,
            tsa_url="http://tsa.example",
        )
    assert "HSM-held seal key" in str(error.value)
    assert "qualified TSA" in str(error.value)


def test_a_seal_key_without_a_tsa_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SIGNER_TSA_URL"):
        SignerSettings(
            amqp_url="amqp://unused",
            database_url="postgresql://unused/unused",
            seal_key_file=tmp_path / "k.pem",
        )


# ------------------------------------------------------------------- evidence bucket


def with_bucket(settings: SignerSettings, s3: SeaweedS3, bucket: str) -> SignerSettings:
    return settings.model_copy(
        update={
            "evidence_s3_endpoint": s3.endpoint,
            "evidence_s3_access_key": SecretStr(s3.access_key),
            "evidence_s3_secret_key": SecretStr(s3.secret_key),
            "evidence_bucket": bucket,
            "evidence_archive_poll_seconds": 0.1,
        }
    )


async def test_sealed_records_reach_the_evidence_bucket_under_compliance_lock(
    test_pki: TestPki, amqp_url: str, database_url: str, s3: SeaweedS3
) -> None:
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    settings = with_bucket(sealed_settings(test_pki, amqp_url, database_url), s3, bucket)
    runtime = await start(settings, amqp_url)
    try:
        letter = deposited()
        await publish(amqp_url, letter)
        await wait_for_records(runtime.pool, letter.correlation_id, 1)
        deadline = asyncio.get_running_loop().time() + 30
        while await runtime.pool.fetchval(
            "SELECT archived_at IS NULL FROM evidence WHERE letter_id = $1", letter.correlation_id
        ):
            assert asyncio.get_running_loop().time() < deadline, "record not archived in time"
            await asyncio.sleep(0.1)
        stored = bytes(
            await runtime.pool.fetchval(
                "SELECT record FROM evidence WHERE letter_id = $1", letter.correlation_id
            )
        )
    finally:
        await stop(runtime)

    client = s3.client()
    key = f"letters/{letter.correlation_id}/records/0001"
    for suffix in (".json", ".seal.json"):
        stat = client.stat_object(bucket, key + suffix)
        retention = client.get_object_retention(bucket, key + suffix, version_id=stat.version_id)
        assert retention is not None
        assert retention.mode == COMPLIANCE
        assert retention.retain_until_date > datetime.now(UTC) + timedelta(days=365)
        with pytest.raises(S3Error) as refused:
            client.remove_object(bucket, key + suffix, version_id=stat.version_id)
        assert refused.value.code == "AccessDenied"
    response = client.get_object(bucket, key + ".json")
    try:
        assert response.read() == stored
    finally:
        response.close()
        response.release_conn()


async def test_a_bucket_without_object_lock_is_refused_at_start(
    test_pki: TestPki, amqp_url: str, database_url: str, s3: SeaweedS3
) -> None:
    bucket = f"nolock-{uuid.uuid4().hex[:12]}"
    s3.client().make_bucket(bucket)
    runtime = bootstrap(with_bucket(sealed_settings(test_pki, amqp_url, database_url), s3, bucket))

    try:
        with pytest.raises(EvidenceBucketError, match="without object lock"):
            await runtime.startup()
    finally:
        await runtime.after_shutdown()
