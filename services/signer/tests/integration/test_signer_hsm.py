"""The seal key held in an HSM, used through PKCS#11 (SoftHSM2 holding the test PKI's seal
key): evidence records and proof PDFs sealed with it verify like those of a key file; a
token that cannot be used stops the start; a qualified configuration starts only with an
HSM-held key and a qualified TSA."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature

from services.signer.tests.integration.softhsm import SoftHsm
from services.signer.tests.integration.test_signer_proofs_pades import FACTS
from services.signer.tests.integration.test_signer_seals import (
    assert_sealed_and_verified,
    deposited,
    first_record,
    publish,
    start,
    stop,
    wait_for_records,
)
from signer.adapters.pdf import PadesSealer
from signer.adapters.seal_check import check_proof, check_seal
from signer.adapters.sealing import CadesSealer, SealKeyError
from signer.bootstrap import build_proof_sealer, build_sealer, load_seal_key
from signer.domain.evidence import QUALIFIED_LABEL, EvidenceEvent
from signer.domain.proofs import EvidenceFact, ProofKind, proof
from signer.domain.verification import StoredRecord
from signer.settings import SignerSettings
from tests.support.pki import TestPki

pytestmark = pytest.mark.integration


def hsm_settings(hsm: SoftHsm, pki: TestPki, **changes: Any) -> SignerSettings:
    values: dict[str, Any] = {
        "amqp_url": "amqp://unused",
        "database_url": "postgresql://unused/unused",
        "http_port": 0,
        "outbox_poll_seconds": 0.2,
        "seal_pkcs11_module": hsm.module,
        "seal_pkcs11_token_label": hsm.token_label,
        "seal_pkcs11_pin": SecretStr(hsm.pin),
        "seal_pkcs11_key_label": hsm.key_label,
        "seal_chain_files": pki.chain_files,
        "seal_root_files": (pki.root_file,),
        "tsa_url": pki.tsa_url,
    }
    values.update(changes)
    return SignerSettings(**values)


async def test_an_hsm_held_key_seals_evidence_records_that_verify(
    softhsm: SoftHsm, test_pki: TestPki
) -> None:
    sealer = build_sealer(hsm_settings(softhsm, test_pki))
    assert isinstance(sealer, CadesSealer)
    body = first_record(EvidenceEvent.acceptance_rejection_expiry, sealer)

    await assert_sealed_and_verified(sealer, body, test_pki)
    assert json.loads(body)["seal"]["label"] == "non qualifié"


async def test_an_hsm_held_key_seals_proof_pdfs_pades_b_lt(softhsm: SoftHsm, test_pki: TestPki) -> None:
    settings = hsm_settings(softhsm, test_pki)
    proofs = build_proof_sealer(settings, load_seal_key(settings))
    assert isinstance(proofs, PadesSealer)
    content = proof(
        ProofKind.non_claim,
        FACTS,
        EvidenceFact(EvidenceEvent.acceptance_rejection_expiry, datetime.now(UTC), "e-1", "b" * 64),
        build_sealer(settings).assurance,
    )

    try:
        pdf = await proofs.seal_proof(content)
    finally:
        await proofs.close()
    reader = PdfFileReader(BytesIO(pdf))
    dss = DocumentSecurityStore.read_dss(reader)
    context = dss.as_validation_context(
        {"trust_roots": [test_pki.cert("root")], "allow_fetching": False, "revocation_mode": "hard-fail"}
    )
    status = await async_validate_pdf_signature(reader.embedded_signatures[0], context)
    report = await check_proof(content.filename, pdf, trust_roots=[test_pki.cert("root")])

    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None
    assert dss.ocsps or dss.crls  # B-LT
    assert report.failures == []


async def test_the_signer_runs_with_its_key_in_the_hsm(
    softhsm: SoftHsm, test_pki: TestPki, amqp_url: str, database_url: str
) -> None:
    settings = hsm_settings(softhsm, test_pki, amqp_url=amqp_url, database_url=database_url)
    runtime = await start(settings, amqp_url)
    try:
        letter = deposited()
        await publish(amqp_url, letter)
        await wait_for_records(runtime.pool, letter.correlation_id, 1, table="proofs")
        row = await runtime.pool.fetchrow(
            "SELECT e.record, e.seal, p.filename, p.pdf FROM evidence e JOIN proofs p USING (evidence_id)"
            " WHERE e.letter_id = $1",
            letter.correlation_id,
        )
    finally:
        await stop(runtime)

    assert row is not None
    seal_report = await check_seal(
        StoredRecord("records/0001.json", bytes(row["record"])),
        bytes(row["seal"]),
        claims_sealed=True,
        trust_roots=[test_pki.cert("root")],
    )
    proof_report = await check_proof(row["filename"], bytes(row["pdf"]), trust_roots=[test_pki.cert("root")])
    assert seal_report.failures == []
    assert proof_report.failures == []


def test_a_wrong_pin_stops_the_start_without_showing_the_pin(softhsm: SoftHsm, test_pki: TestPki) -> None:
    # Its own process: PKCS#11 logs in a whole process, and this one is logged in already.
    environment = {
        **os.environ,
        "SIGNER_AMQP_URL": "amqp://unused",
        "SIGNER_DATABASE_URL": "postgresql://unused/unused",
        "SIGNER_SEAL_PKCS11_MODULE": str(softhsm.module),
        "SIGNER_SEAL_PKCS11_TOKEN_LABEL": softhsm.token_label,
        "SIGNER_SEAL_PKCS11_PIN": "080808",
        "SIGNER_SEAL_PKCS11_KEY_LABEL": softhsm.key_label,
        "SIGNER_TSA_URL": test_pki.tsa_url,
    }

    result = subprocess.run(
        [sys.executable, "-c", "from signer.main import create_app; create_app()"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "SealKeyError: cannot open the HSM token 'lre-test-seal'" in result.stderr
    assert "PinIncorrect" in result.stderr
    assert "080808" not in result.stderr


def test_a_key_label_not_on_the_token_stops_the_start(softhsm: SoftHsm, test_pki: TestPki) -> None:
    with pytest.raises(SealKeyError, match="no usable seal key 'nope'"):
        build_sealer(hsm_settings(softhsm, test_pki, seal_pkcs11_key_label="nope"))


def test_an_hsm_module_without_its_token_pin_and_key_labels_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as error:
        SignerSettings(
            amqp_url="amqp://unused",
            database_url="postgresql://unused/unused",
            seal_pkcs11_module=tmp_path / "libhsm.so",
            tsa_url="http://tsa.example",
        )

    for setting in ("TOKEN_LABEL", "PIN", "KEY_LABEL"):
        assert f"SIGNER_SEAL_PKCS11_{setting}" in str(error.value)


def test_a_key_file_and_an_hsm_key_together_are_refused(softhsm: SoftHsm, test_pki: TestPki) -> None:
    with pytest.raises(ValidationError, match="configure one seal key"):
        hsm_settings(softhsm, test_pki, seal_key_file=test_pki.key_file("seal"))


# ------------------------------------------------------------------- qualified: fail closed


def test_a_qualified_configuration_with_a_key_file_refuses_to_start(test_pki: TestPki) -> None:
    with pytest.raises(ValidationError, match="HSM-held seal key"):
        SignerSettings(
            amqp_url="amqp://unused",
            database_url="postgresql://unused/unused",
            qualified=True,
            seal_key_file=test_pki.key_file("seal"),
            seal_cert_file=test_pki.cert_file("seal"),
            tsa_url=test_pki.tsa_url,
            tsa_qualified=True,
        )


def test_a_qualified_configuration_with_an_hsm_but_no_qualified_tsa_refuses_to_start(
    softhsm: SoftHsm, test_pki: TestPki
) -> None:
    with pytest.raises(ValidationError, match="a qualified TSA") as error:
        hsm_settings(softhsm, test_pki, qualified=True)

    assert "HSM-held" not in str(error.value)


async def test_a_qualified_configuration_with_an_hsm_and_a_qualified_tsa_labels_its_seals_qualifie(
    softhsm: SoftHsm, test_pki: TestPki
) -> None:
    sealer = build_sealer(hsm_settings(softhsm, test_pki, qualified=True, tsa_qualified=True))

    try:
        assert sealer.assurance.label == QUALIFIED_LABEL
        body = first_record(EvidenceEvent.submission_acceptance, sealer)  # type: ignore[arg-type]
        assert json.loads(body)["seal"]["label"] == "qualifié"
    finally:
        assert isinstance(sealer, CadesSealer)
        await sealer.close()


async def test_records_and_proofs_sealed_at_once_share_the_hsm_key_safely(
    softhsm: SoftHsm, test_pki: TestPki
) -> None:
    settings = hsm_settings(softhsm, test_pki)
    key = load_seal_key(settings)
    sealer, proofs = build_sealer(settings, key), build_proof_sealer(settings, key)
    assert isinstance(sealer, CadesSealer)
    assert isinstance(proofs, PadesSealer)
    records = [first_record(EvidenceEvent.notification_for_acceptance, sealer) for _ in range(20)]
    content = proof(
        ProofKind.deposit,
        FACTS,
        EvidenceFact(EvidenceEvent.submission_acceptance, FACTS.deposited_at, "e-1", "b" * 64),
        sealer.assurance,
    )

    try:
        results = await asyncio.gather(
            *(sealer.seal(body) for body in records), *(proofs.seal_proof(content) for _ in range(4))
        )
    finally:
        await sealer.close()
        await proofs.close()
    seals, pdfs = results[: len(records)], results[len(records) :]
    roots = [test_pki.cert("root")]
    for n, (body, seal) in enumerate(zip(records, seals, strict=True)):
        report = await check_seal(StoredRecord(f"r{n}", body), seal, claims_sealed=True, trust_roots=roots)
        assert report.failures == []
    for pdf in pdfs:
        assert (await check_proof(content.filename, pdf, trust_roots=roots)).failures == []
