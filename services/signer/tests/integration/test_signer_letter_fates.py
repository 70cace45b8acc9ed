"""A letter's fate on the real parts and the test PKI: unclaimed (AcceptanceRejectionExpiry,
proof of non-claim, CPCE R.53-3) or its receipt signed (ReceiptAcknowledgement, a platform
extension); every sealed proof published as `ProofIssued`; the envelope `pli_<number>.pdf`
issued once the fate is settled and issued again with later evidence; the letter's records
listed on request (`ListEvidence`); and `lre verify` on the exported bundle."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from deploy.local.seaweed import SeaweedS3
from lre_shared.contracts import (
    ContentHandedOver,
    EvidenceListed,
    LetterAccepted,
    LetterDeposited,
    LetterUnclaimed,
    ListEvidence,
    NoticeFailed,
    ProofIssued,
    ProofKind,
    ReceiptSigned,
    SignatureMethod,
    now_utc,
)
from lre_shared.runtime import ServiceRuntime
from services.signer.tests.integration.test_signer_chain import failed
from services.signer.tests.integration.test_signer_proofs_on_events import lre_export, with_proofs
from services.signer.tests.integration.test_signer_seals import (
    DOCUMENT,
    deposited,
    lre_verify,
    publish,
    start,
    stop,
    wait_for_proofs,
    wait_for_records,
    with_bucket,
)
from signer.adapters.seal_check import check_proof
from tests.support.bus import Probe, eventually, open_probe
from tests.support.documents import one_byte_changed, pdf_text
from tests.support.pki import TestPki

pytestmark = pytest.mark.integration


@dataclass
class Signer:
    runtime: ServiceRuntime
    amqp_url: str
    probe: Probe

    async def send(self, letter: LetterDeposited, *events: object) -> None:
        """Each event in turn, once the one before is on record."""
        count = await self.runtime.pool.fetchval(
            "SELECT count(*) FROM evidence WHERE letter_id = $1", letter.correlation_id
        )
        for event in events:
            await publish(self.amqp_url, event)  # type: ignore[arg-type]
            count += 1
            await wait_for_records(self.runtime.pool, letter.correlation_id, count)

    async def proofs_issued(self, letter_id: uuid.UUID, count: int) -> list[ProofIssued]:
        await eventually(lambda: len(self.probe.of(ProofIssued.routing_key, letter_id)) >= count, timeout=30)
        return [
            ProofIssued.model_validate_json(m.body) for m in self.probe.of(ProofIssued.routing_key, letter_id)
        ]

    async def list_evidence(self, letter_id: uuid.UUID) -> EvidenceListed:
        return await self.runtime.bus.ask(
            ListEvidence(correlation_id=letter_id), EvidenceListed, timeout=30.0
        )


@pytest.fixture
async def signer(test_pki: TestPki, amqp_url: str, database_url: str) -> AsyncIterator[Signer]:
    async with open_probe(amqp_url, (ProofIssued.exchange, ProofIssued.routing_key)) as probe:
        runtime = await start(with_proofs(test_pki, amqp_url, database_url), amqp_url)
        try:
            yield Signer(runtime, amqp_url, probe)
        finally:
            await stop(runtime)


def bounced(letter: LetterDeposited) -> NoticeFailed:
    return failed(letter).model_copy(update={"reason": "SMTP 550: mailbox unavailable", "permanent": True})


def unclaimed(letter: LetterDeposited) -> LetterUnclaimed:
    return LetterUnclaimed(
        correlation_id=letter.correlation_id, item_number=letter.item_number, window_closed_at=now_utc()
    )


def accepted(letter: LetterDeposited) -> LetterAccepted:
    return LetterAccepted(
        correlation_id=letter.correlation_id, item_number=letter.item_number, accepted_at=now_utc()
    )


def receipt_signed(letter: LetterDeposited) -> ReceiptSigned:
    return ReceiptSigned(
        correlation_id=letter.correlation_id,
        item_number=letter.item_number,
        method=SignatureMethod.certificate,
        signed_at=now_utc(),
        signer_name="Camille Martin",
        receipt_sha256="d" * 64,
    )


def handed_over(letter: LetterDeposited) -> ContentHandedOver:
    return ContentHandedOver(
        correlation_id=letter.correlation_id,
        item_number=letter.item_number,
        document_id=letter.documents[0].document_id,
        handed_over_at=now_utc() + timedelta(seconds=1),
    )


async def records_of(signer: Signer, letter: LetterDeposited) -> list[dict[str, object]]:
    rows = await signer.runtime.pool.fetch(
        "SELECT record FROM evidence WHERE letter_id = $1 ORDER BY seq", letter.correlation_id
    )
    return [json.loads(bytes(row["record"])) for row in rows]


# ---------------------------------------------------------------------------- unclaimed


async def test_an_unclaimed_letter_gets_its_sealed_proof_of_non_claim_at_once(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = deposited()
    await signer.send(letter, letter, bounced(letter), unclaimed(letter))

    issued = await signer.proofs_issued(letter.correlation_id, 3)
    records = await records_of(signer, letter)

    assert records[-1]["event"] == "AcceptanceRejectionExpiry"
    assert records[-1]["event_uri"] == "http://uri.etsi.org/19522/Event/AcceptanceRejectionExpiry"
    assert "15-day window" in str(records[-1]["details"])
    by_kind = {proof.kind: proof for proof in issued}
    assert set(by_kind) == {ProofKind.deposit, ProofKind.non_claim, ProofKind.envelope}
    non_claim = by_kind[ProofKind.non_claim]
    assert non_claim.filename == f"non_claim_{letter.item_number}.pdf"
    assert non_claim.item_number == letter.item_number
    report = await check_proof(non_claim.filename, non_claim.pdf, trust_roots=[test_pki.cert("root")])
    assert report.failures == []
    stored = await signer.runtime.pool.fetchval(
        "SELECT pdf FROM proofs WHERE letter_id = $1 AND kind = 'non_claim'", letter.correlation_id
    )
    assert bytes(stored) == non_claim.pdf


async def test_the_envelope_of_an_unclaimed_letter_lists_its_whole_chain(signer: Signer) -> None:
    letter = deposited()
    await signer.send(letter, letter, bounced(letter), unclaimed(letter))

    issued = await signer.proofs_issued(letter.correlation_id, 3)

    (pli,) = [proof for proof in issued if proof.kind is ProofKind.envelope]
    assert pli.filename == f"pli_{letter.item_number}.pdf"
    text = pdf_text(pli.pdf)
    for event in ("SubmissionAcceptance", "NotificationForAcceptanceFailure", "AcceptanceRejectionExpiry"):
        assert event in text


async def test_no_envelope_is_issued_before_the_letters_fate_is_settled(signer: Signer) -> None:
    letter = deposited()
    await signer.send(letter, letter, bounced(letter), accepted(letter))

    issued = await signer.proofs_issued(letter.correlation_id, 2)

    assert sorted(proof.kind for proof in issued) == [ProofKind.deposit, ProofKind.receipt]
    assert not await signer.runtime.pool.fetchval(
        "SELECT count(*) FROM proofs WHERE letter_id = $1 AND kind = 'envelope'", letter.correlation_id
    )


# ------------------------------------------------------------------------ receipt signed


async def test_a_signed_receipt_is_recorded_with_its_method_signer_and_hash(signer: Signer) -> None:
    letter = deposited()
    await signer.send(letter, letter, accepted(letter), receipt_signed(letter))

    records = await records_of(signer, letter)

    assert [r["event"] for r in records] == [
        "SubmissionAcceptance",
        "ConsignmentAcceptance",
        "ReceiptAcknowledgement",
    ]
    assert records[-1]["event_uri"] == "urn:lre:evidence-event:ReceiptAcknowledgement"
    assert records[-1]["details"] == {
        "method": "certificate",
        "signer_name": "Camille Martin",
        "receipt_sha256": "d" * 64,
        "case_id": None,
    }


async def test_a_receipt_signed_with_a_one_time_code_names_the_verification_case(signer: Signer) -> None:
    letter = deposited()
    case_id = uuid.uuid4()
    by_code = receipt_signed(letter).model_copy(
        update={"method": SignatureMethod.one_time_code, "receipt_sha256": None, "case_id": case_id}
    )
    await signer.send(letter, letter, accepted(letter), by_code)

    records = await records_of(signer, letter)

    assert records[-1]["details"] == {
        "method": "one_time_code",
        "signer_name": "Camille Martin",
        "receipt_sha256": None,
        "case_id": str(case_id),
    }


async def test_the_envelope_is_issued_again_when_the_content_is_handed_over(signer: Signer) -> None:
    letter = deposited()
    await signer.send(letter, letter, accepted(letter), receipt_signed(letter))
    first = [p for p in await signer.proofs_issued(letter.correlation_id, 3) if p.kind is ProofKind.envelope]

    await signer.send(letter, handed_over(letter))
    issued = await signer.proofs_issued(letter.correlation_id, 4)

    envelopes = [proof for proof in issued if proof.kind is ProofKind.envelope]
    assert len(first) == 1
    assert len(envelopes) == 2
    assert envelopes[0].filename == envelopes[1].filename == f"pli_{letter.item_number}.pdf"
    assert "ContentHandover" not in pdf_text(envelopes[0].pdf)
    assert "ContentHandover" in pdf_text(envelopes[1].pdf)
    row = await signer.runtime.pool.fetchrow(
        "SELECT p.sha256, e.event FROM proofs p JOIN evidence e USING (evidence_id)"
        " WHERE p.letter_id = $1 AND p.kind = 'envelope'",
        letter.correlation_id,
    )
    assert (row["sha256"], row["event"]) == (envelopes[1].sha256, "ContentHandover")  # the latest is kept


# --------------------------------------------------------------------------- listing


async def test_list_evidence_gives_the_records_in_chain_order_with_the_reasons_of_negative_ones(
    signer: Signer,
) -> None:
    letter = deposited()
    await signer.send(letter, letter, bounced(letter), unclaimed(letter))

    listed = await signer.list_evidence(letter.correlation_id)

    assert [entry.event for entry in listed.records] == [
        "SubmissionAcceptance",
        "NotificationForAcceptanceFailure",
        "AcceptanceRejectionExpiry",
    ]
    assert listed.records[0].previous_sha256 is None
    for before, after in zip(listed.records, listed.records[1:], strict=False):
        assert after.previous_sha256 == before.record_sha256
    assert listed.records[0].reasons == ()
    assert listed.records[1].reasons == ("SMTP 550: mailbox unavailable",)
    assert "15-day window" in listed.records[2].reasons[0]


async def test_list_evidence_of_an_unknown_letter_is_empty(signer: Signer) -> None:
    listed = await signer.list_evidence(uuid.uuid4())

    assert listed.records == ()


# ---------------------------------------------------------------------- lre verify


@pytest.fixture
async def unclaimed_bundle(signer: Signer, database_url: str, tmp_path: Path) -> tuple[Path, str]:
    """The exported bundle of an unclaimed letter: records, proofs (deposit, non-claim,
    envelope) and its document."""
    letter = deposited()
    await signer.send(letter, letter, bounced(letter), unclaimed(letter))
    await signer.proofs_issued(letter.correlation_id, 3)
    document = tmp_path / "mise-en-demeure.pdf"
    document.write_bytes(DOCUMENT)
    exported = lre_export(letter.correlation_id, tmp_path / "bundle", database_url, document)
    assert exported.returncode == 0, exported.stderr
    assert "exported 3 records and 3 proofs" in exported.stdout
    return tmp_path / "bundle", letter.item_number


async def test_lre_verify_accepts_an_unclaimed_letters_bundle_with_its_new_proofs(
    unclaimed_bundle: tuple[Path, str], test_pki: TestPki
) -> None:
    bundle, number = unclaimed_bundle

    result = lre_verify(bundle, test_pki.root_file)

    assert result.returncode == 0, result.stderr
    assert f"proof non_claim_{number}.pdf: PAdES seal intact" in result.stdout
    assert f"proof pli_{number}.pdf: PAdES seal intact" in result.stdout
    assert "chain: 3 records, positions 1 to 3, no gap" in result.stdout


async def test_lre_verify_names_one_changed_byte_in_a_proof_of_non_claim(
    unclaimed_bundle: tuple[Path, str], test_pki: TestPki
) -> None:
    bundle, number = unclaimed_bundle
    pdf = bundle / "proofs" / f"non_claim_{number}.pdf"
    original = pdf.read_bytes()
    pdf.write_bytes(one_byte_changed(original))

    result = lre_verify(bundle, test_pki.root_file)

    assert result.returncode == 1
    assert f"FAIL  proof {pdf.name}: the seal does not match the PDF: the proof was altered" in result.stderr
    assert f"proof pli_{number}.pdf: PAdES seal intact" in result.stdout + result.stderr


async def test_lre_verify_accepts_a_signed_and_downloaded_letters_bundle(
    signer: Signer, database_url: str, test_pki: TestPki, tmp_path: Path
) -> None:
    letter = deposited()
    await signer.send(letter, letter, accepted(letter), receipt_signed(letter), handed_over(letter))
    # The envelope may come once for the last two records, or once for each.
    await wait_for_proofs(signer.runtime.pool, letter.correlation_id)

    exported = lre_export(letter.correlation_id, tmp_path / "bundle.zip", database_url)
    result = lre_verify(tmp_path / "bundle.zip", test_pki.root_file)

    assert exported.returncode == 0, exported.stderr
    assert result.returncode == 0, result.stderr
    assert "chain: 4 records, positions 1 to 4, no gap" in result.stdout
    assert f"proof pli_{letter.item_number}.pdf: PAdES seal intact" in result.stdout


async def test_each_envelope_reaches_the_evidence_bucket_the_latest_last(
    test_pki: TestPki, amqp_url: str, database_url: str, s3: SeaweedS3
) -> None:
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    settings = with_bucket(with_proofs(test_pki, amqp_url, database_url), s3, bucket)
    async with open_probe(amqp_url, (ProofIssued.exchange, ProofIssued.routing_key)) as probe:
        runtime = await start(settings, amqp_url)
        signer = Signer(runtime, amqp_url, probe)
        try:
            letter = deposited()

            async def all_archived() -> bool:
                archived: bool | None = await runtime.pool.fetchval(
                    "SELECT bool_and(archived_at IS NOT NULL) FROM proofs WHERE letter_id = $1",
                    letter.correlation_id,
                )
                return bool(archived)

            # The first envelope (receipt signed) reaches the bucket before the next one replaces it.
            await signer.send(letter, letter, accepted(letter), receipt_signed(letter))
            await signer.proofs_issued(letter.correlation_id, 3)
            await eventually(all_archived, timeout=30)
            await signer.send(letter, handed_over(letter))
            issued = await signer.proofs_issued(letter.correlation_id, 4)
            await eventually(all_archived, timeout=30)
        finally:
            await stop(runtime)

    latest = [proof for proof in issued if proof.kind is ProofKind.envelope][-1]
    client = s3.client()
    key = f"letters/{letter.correlation_id}/proofs/pli_{letter.item_number}.pdf"
    versions = list(client.list_objects(bucket, prefix=key, include_version=True))
    response = client.get_object(bucket, key)
    try:
        assert response.read() == latest.pdf
    finally:
        response.close()
        response.release_conn()
    assert len(versions) == 2  # the first envelope stays, under compliance lock
