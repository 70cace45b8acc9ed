"""The acknowledgement of receipt (AR): what it says, and whose certificate names the recipient."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from signer.domain.evidence import UNSEALED, EvidenceEvent, build_record
from signer.domain.receipt import NotReady, Recipient, accepted_letter, names_match, receipt_form

CAMILLE = Recipient("Camille", "Martin", "camille.martin@example.org")
LETTER = uuid4()


def record(event: EvidenceEvent, seq: int, details: dict[str, object]) -> bytes:
    body, _ = build_record(
        evidence_id=uuid4(),
        event=event,
        event_time=datetime(2025, 3, seq, 9, 0, tzinfo=UTC),
        letter_id=LETTER,
        item_number="799273987130",
        details=details,
        policy_id="urn:lre:policy:test",
        seq=seq,
        previous_sha256=None if seq == 1 else "0" * 64,
        seal=UNSEALED,
    )
    return body


DEPOSIT = record(
    EvidenceEvent.submission_acceptance,
    1,
    {
        "sender": {"id": "acme", "name": "ACME SAS", "email": "legal@acme.example"},
        "recipient": {"first_name": "Camille", "last_name": "Martin", "email": "camille.martin@example.org"},
        "documents": [{"filename": "mise-en-demeure.pdf", "sha256": "a" * 64}],
    },
)
ACCEPTANCE = record(EvidenceEvent.consignment_acceptance, 2, {})


@pytest.mark.parametrize(
    "certificate_name",
    ["Camille Martin", "MARTIN Camille", "camille  martin", "Camïlle Martin", "Camille-Martin"],
)
def test_accents_case_order_and_spacing_do_not_matter_in_the_signers_name(certificate_name: str) -> None:
    assert names_match(CAMILLE, [certificate_name])


@pytest.mark.parametrize("certificate_name", ["Dominique Martin", "Camille Martin Dupont", "Camille", ""])
def test_another_name_or_a_partial_name_does_not_match(certificate_name: str) -> None:
    assert not names_match(CAMILLE, [certificate_name])


def test_the_ar_states_the_letter_the_parties_and_both_times() -> None:
    letter = accepted_letter([DEPOSIT, ACCEPTANCE], policy_id="urn:lre:policy:test")

    content = receipt_form(letter, str(LETTER))
    fields = dict(content.fields)

    assert content.filename == "ar_799273987130.pdf"
    assert fields["Numéro de pli"] == "799273987130"
    assert fields["Destinataire"] == "Camille Martin"
    assert fields["Expéditeur"] == "ACME SAS"
    assert fields["Date et heure du dépôt"].startswith("01/03/2025 à 10:00:00")
    assert fields["Date et heure de la réception (acceptation)"].startswith("02/03/2025 à 10:00:00")
    assert any("reconnais avoir reçu" in note for note in content.notes)


def test_no_ar_before_the_letter_is_accepted() -> None:
    with pytest.raises(NotReady, match="not accepted"):
        accepted_letter([DEPOSIT], policy_id="urn:lre:policy:test")
