"""Proof PDFs sealed PAdES B-LT against the test PKI, accepted by pyHanko's validator
offline, from the validation data embedded in the PDF alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from io import BytesIO

import pytest
from pyhanko.pdf_utils import embed
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature
from pypdf import PdfReader

from signer.adapters.pdf import PadesSealer, render_pdf
from signer.adapters.seal_check import proof_attachments
from signer.adapters.sealing import load_signer, timestamper
from signer.domain.evidence import EvidenceEvent, SealAssurance
from signer.domain.proofs import (
    AttachedRecord,
    DocumentFact,
    EvidenceFact,
    LetterFacts,
    Party,
    ProofKind,
    Provider,
    envelope,
    proof,
)
from tests.support.pki import TestPki

pytestmark = pytest.mark.integration

FACTS = LetterFacts(
    item_number="799273987130",
    sender=Party("ACME SAS", "legal@acme.example"),
    recipient=Party("Camille Martin", "camille.martin@example.org"),
    deposited_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
    documents=(DocumentFact("mise-en-demeure.pdf", "a" * 64),),
    policy_id="urn:lre:policy:fr_lre:v1",
)
PROVIDER = Provider(
    "LRE Démo SAS",
    "RCS Paris 000 000 000",
    "1 rue de l'Exemple, 75001 Paris",
    "urn:lre:policy:fr_lre:v1",
    SealAssurance(sealed=True),
)


def pades(pki: TestPki, *, lta: bool = False) -> PadesSealer:
    signer = load_signer(pki.key_file("seal"), cert_file=pki.cert_file("seal"), chain_files=pki.chain_files)
    return PadesSealer(
        signer, timestamper(pki.tsa_url), trust_roots=[pki.cert("root")], provider=PROVIDER, lta=lta
    )


async def sealed(pki: TestPki, pdf: bytes, *, lta: bool = False) -> bytes:
    sealer = pades(pki, lta=lta)
    try:
        return await sealer.seal(pdf)
    finally:
        await sealer.close()


async def validate_offline(pdf: bytes, pki: TestPki) -> tuple[object, DocumentSecurityStore]:
    """pyHanko's validator with no fetching and hard-fail revocation: only what is embedded."""
    reader = PdfFileReader(BytesIO(pdf))
    dss = DocumentSecurityStore.read_dss(reader)
    context = dss.as_validation_context(
        {"trust_roots": [pki.cert("root")], "allow_fetching": False, "revocation_mode": "hard-fail"}
    )
    status = await async_validate_pdf_signature(reader.embedded_signatures[0], context)
    return status, dss


def contents(kind: ProofKind) -> object:
    return proof(
        kind,
        FACTS,
        EvidenceFact(kind.event, datetime(2025, 3, 2, 10, 30, tzinfo=UTC), "e-1", "b" * 64),
        SealAssurance(sealed=True),
    )


@pytest.mark.parametrize("kind", [kind for kind in ProofKind if kind is not ProofKind.envelope])
async def test_every_proof_is_sealed_pades_b_lt_and_validates_offline(
    test_pki: TestPki, kind: ProofKind
) -> None:
    pdf = await sealed(test_pki, render_pdf(contents(kind), PROVIDER))  # type: ignore[arg-type]

    status, dss = await validate_offline(pdf, test_pki)

    assert status.bottom_line, status.pretty_print_details()  # type: ignore[attr-defined]
    assert status.timestamp_validity is not None  # B-T: a signature timestamp  # type: ignore[attr-defined]
    assert dss.ocsps or dss.crls  # B-LT: revocation data embedded
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
    assert kind.heading in text
    assert "non qualifié" in text
    assert "Camille Martin" in text


async def test_the_envelope_is_sealed_pades_b_lta_by_configuration(test_pki: TestPki) -> None:
    facts = [
        EvidenceFact(EvidenceEvent.submission_acceptance, FACTS.deposited_at, "e-1", "b" * 64),
        EvidenceFact(EvidenceEvent.consignment_acceptance, datetime(2025, 3, 2, tzinfo=UTC), "e-2", "c" * 64),
    ]
    pdf = await sealed(
        test_pki, render_pdf(envelope(FACTS, facts, SealAssurance(sealed=True)), PROVIDER), lta=True
    )

    status, _ = await validate_offline(pdf, test_pki)
    reader = PdfFileReader(BytesIO(pdf))

    assert status.bottom_line  # type: ignore[attr-defined]
    assert len(reader.embedded_signatures) == 2  # the seal, and the document timestamp of B-LTA


async def test_one_changed_byte_in_a_sealed_proof_is_detected(test_pki: TestPki) -> None:
    pdf = await sealed(test_pki, render_pdf(contents(ProofKind.receipt), PROVIDER))  # type: ignore[arg-type]
    at = pdf.index(b"stream\n") + 20  # inside the first page's (compressed) text
    tampered = pdf[:at] + bytes([pdf[at] ^ 1]) + pdf[at + 1 :]

    status, _ = await validate_offline(tampered, test_pki)

    assert not status.intact  # type: ignore[attr-defined]


async def test_a_sealed_proof_names_the_provider_and_its_registration(test_pki: TestPki) -> None:
    pdf = await sealed(test_pki, render_pdf(contents(ProofKind.deposit), PROVIDER))  # type: ignore[arg-type]

    text = " ".join(PdfReader(BytesIO(pdf)).pages[0].extract_text().split())
    assert "LRE Démo SAS" in text and "RCS Paris 000 000 000" in text
    assert "prestataire non qualifié (not qualified)" in text


async def test_the_records_a_proof_carries_are_those_its_seal_covers(test_pki: TestPki) -> None:
    record = AttachedRecord(2, b'{"seq":2}', b'{"seal":"of record 2"}')
    content = replace(contents(ProofKind.refusal), evidence=(record,))  # type: ignore[type-var]
    pdf = await sealed(test_pki, render_pdf(content, PROVIDER))  # type: ignore[arg-type]
    # a file slipped in after sealing, by an incremental update the seal does not cover
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    embed.embed_file(
        writer,
        embed.FileSpec(
            "0003.json", embedded_data=embed.EmbeddedFileObject.from_file_data(writer, b'{"seq":3}')
        ),
    )
    tampered = BytesIO()
    writer.write(tampered)  # type: ignore[no-untyped-call]

    assert proof_attachments(pdf) == {"0002.json": record.body, "0002.seal.json": record.seal}
    assert "0003.json" in PdfReader(BytesIO(tampered.getvalue())).attachments
    assert proof_attachments(tampered.getvalue()) == proof_attachments(pdf)
