"""The proofs' content, in French, with every item CPCE R.53-2 and R.53-3 require."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from io import BytesIO

import pytest
from pypdf import PdfReader

from lre_shared import contracts
from signer.adapters.pdf import render_pdf
from signer.domain.evidence import EvidenceEvent, SealAssurance
from signer.domain.proofs import (
    DocumentFact,
    EvidenceFact,
    LetterFacts,
    Party,
    ProofKind,
    Provider,
    envelope,
    french_time,
    proof,
)

FACTS = LetterFacts(
    item_number="799273987130",
    sender=Party("ACME SAS", "legal@acme.example"),
    recipient=Party("Camille Martin", "camille.martin@example.org"),
    deposited_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
    documents=(DocumentFact("mise-en-demeure.pdf", "a" * 64),),
    policy_id="urn:lre:policy:fr_lre:v1",
)
SEAL = SealAssurance(sealed=True)
PROVIDER = Provider(
    "LRE Démo SAS",
    "RCS Paris 000 000 000",
    "1 rue de l'Exemple, 75001 Paris",
    "urn:lre:policy:fr_lre:v1",
    SealAssurance(sealed=True),
)


def fact(event: EvidenceEvent, hour: int = 10) -> EvidenceFact:
    return EvidenceFact(event, datetime(2025, 3, 2, hour, 30, tzinfo=UTC), "e-1", "b" * 64)


def test_times_are_given_in_paris_time_and_utc() -> None:
    assert french_time(datetime(2025, 3, 2, 10, 30, tzinfo=UTC)) == (
        "02/03/2025 à 11:30:00 (heure de Paris), soit 10:30:00 UTC"
    )


EVENT_PROOFS = [kind for kind in ProofKind if kind is not ProofKind.envelope]


def test_proof_kinds_are_the_bus_contracts_one_for_one() -> None:
    assert {kind.value for kind in ProofKind} == {kind.value for kind in contracts.ProofKind}
    assert all(kind.contract.value == kind.value for kind in ProofKind)


def test_the_envelope_attests_no_single_event() -> None:
    with pytest.raises(ValueError, match="envelope"):
        proof(ProofKind.envelope, FACTS, fact(EvidenceEvent.consignment_acceptance), SEAL)


@pytest.mark.parametrize("kind", EVENT_PROOFS)
def test_every_proof_carries_the_items_of_cpce_r53_2_and_r53_3(kind: ProofKind) -> None:
    content = proof(kind, FACTS, fact(kind.event), SEAL)
    fields = dict(content.fields)

    assert fields["Numéro de pli"] == "799273987130"
    assert fields["Expéditeur"] == "ACME SAS"
    assert fields["Adresse électronique de l'expéditeur"] == "legal@acme.example"
    assert fields["Destinataire"] == "Camille Martin"
    assert fields["Adresse électronique du destinataire"] == "camille.martin@example.org"
    assert fields["Date et heure du dépôt"] == "01/03/2025 à 10:00:00 (heure de Paris), soit 09:00:00 UTC"
    assert "Cachet et horodatage du prestataire : non qualifié." in content.notes
    if kind is not ProofKind.deposit:
        assert fields[kind.moment] == "02/03/2025 à 11:30:00 (heure de Paris), soit 10:30:00 UTC"


def test_the_proof_of_non_claim_states_the_end_of_the_15_day_window() -> None:
    content = proof(ProofKind.non_claim, FACTS, fact(EvidenceEvent.acceptance_rejection_expiry), SEAL)

    assert content.title == "Preuve de non-réclamation — lettre recommandée électronique"
    assert content.filename == "non_claim_799273987130.pdf"
    assert dict(content.fields)["Date et heure de fin du délai de 15 jours sans réclamation"] == (
        "02/03/2025 à 11:30:00 (heure de Paris), soit 10:30:00 UTC"
    )


def test_a_proof_of_refusal_cannot_be_made_from_an_acceptance() -> None:
    with pytest.raises(ValueError, match="ConsignmentRejection"):
        proof(ProofKind.refusal, FACTS, fact(EvidenceEvent.consignment_acceptance), SEAL)


def test_the_envelope_is_named_after_the_item_number_and_lists_every_record() -> None:
    records = [fact(EvidenceEvent.submission_acceptance, 9), fact(EvidenceEvent.consignment_acceptance, 11)]

    content = envelope(FACTS, records, SEAL)

    assert content.filename == "pli_799273987130.pdf"
    labels = [label for label, _ in content.fields]
    assert "Preuve 1 : SubmissionAcceptance (dépôt accepté)" in labels
    assert "Preuve 2 : ConsignmentAcceptance (lettre acceptée par le destinataire)" in labels


def test_the_envelope_names_every_kind_of_event_in_french() -> None:
    records = [fact(event) for event in EvidenceEvent]

    labels = [label for label, _ in envelope(FACTS, records, SEAL).fields if label.startswith("Preuve ")]

    assert len(labels) == len(EvidenceEvent)
    assert "Preuve 10 : ReceiptAcknowledgement (avis de réception signé par le destinataire)" in labels


def test_a_long_envelope_spans_several_pages() -> None:
    records = [fact(EvidenceEvent.notification_for_acceptance, h % 24) for h in range(80)]

    pdf = render_pdf(envelope(FACTS, records, SEAL), PROVIDER)

    assert len(PdfReader(BytesIO(pdf)).pages) >= 2


@pytest.mark.parametrize("name", ["Łukasz Dvořák", "Ørsted", "Nguyễn Thị Minh Khai"])
def test_every_proof_spells_the_recipients_name_exactly_in_an_embedded_font(name: str) -> None:
    facts = replace(FACTS, recipient=Party(name, "r@example.org"))
    for content in (
        proof(ProofKind.deposit, facts, fact(EvidenceEvent.submission_acceptance), SEAL),
        envelope(facts, [fact(EvidenceEvent.submission_acceptance)], SEAL),
    ):
        pdf = render_pdf(content, PROVIDER)

        assert name in "".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
        assert b"/FontFile2" in pdf and b"/Helvetica" not in pdf


def test_a_proof_names_the_provider_its_registration_policy_and_that_it_is_not_qualified() -> None:
    pdf = render_pdf(
        proof(ProofKind.deposit, FACTS, fact(EvidenceEvent.submission_acceptance), SEAL), PROVIDER
    )

    text = " ".join(PdfReader(BytesIO(pdf)).pages[0].extract_text().split())
    assert "LRE Démo SAS" in text and "RCS Paris 000 000 000" in text
    assert "1 rue de l'Exemple, 75001 Paris" in text and "urn:lre:policy:fr_lre:v1" in text
    assert "prestataire non qualifié (not qualified)" in text
