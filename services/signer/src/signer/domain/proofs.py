"""The human proofs, in French: what each must say.

CPCE R.53-2 (proof of deposit, preuve de dépôt): sender's name and email, recipient's name
and email, the item's unique number, date and time of deposit by an electronic timestamp,
the provider's seal. CPCE R.53-3 (proofs of receipt, refusal, non-claim): the same, and the
date and time of receipt (acceptance), of refusal, or the end of the 15-day window without
claim (non réclamée), by an electronic timestamp. The seal itself is the PAdES signature the
adapter adds; its assurance ("non qualifié") is printed on every proof.

Events are ETSI EN 319 522-2's: SubmissionAcceptance (deposit), ConsignmentAcceptance
(receipt), ConsignmentRejection (refusal), AcceptanceRejectionExpiry (non-claim).

The envelope `pli_<number>.pdf` attests no single event: it lists the letter and every
record of its life, and is issued again as records are added once the letter's fate is
settled (see `service_layer/handlers.py`).

`ProofKind` has the values of the bus contract's `lre_shared.contracts.ProofKind`, one for
one (`ProofKind.contract`); a unit test holds them equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from lre_shared import contracts
from signer.domain.evidence import EvidenceEvent, SealAssurance

PARIS = ZoneInfo("Europe/Paris")
PROVIDER_NOTE = (
    "Document scellé électroniquement par le prestataire ; vérifiable avec la commande « lre verify »."
)


class ProofKind(StrEnum):
    deposit = "deposit"  # preuve de dépôt, R.53-2
    receipt = "receipt"  # preuve de réception, R.53-3
    refusal = "refusal"  # preuve de refus, R.53-3
    non_claim = "non_claim"  # preuve de non-réclamation, R.53-3
    envelope = "envelope"  # pli_<number>.pdf: the letter and its evidence

    @property
    def heading(self) -> str:
        return "Pli" if self is ProofKind.envelope else self.attests.heading

    @property
    def attests(self) -> Attests:
        """What the proof of one event attests; the envelope attests every event, not one."""
        if self is ProofKind.envelope:
            raise ValueError("the envelope attests every event of the letter, not one")
        return ATTESTS[self]

    @property
    def event(self) -> EvidenceEvent:
        return self.attests.event

    @property
    def moment(self) -> str:
        """The label of the date and time the proof attests (R.53-2 / R.53-3)."""
        return self.attests.moment

    @property
    def contract(self) -> contracts.ProofKind:
        """The same kind, as `ProofIssued` carries it."""
        return contracts.ProofKind(self.value)


@dataclass(frozen=True)
class Attests:
    """What a kind of proof is called, and the event and the moment it attests."""

    heading: str
    event: EvidenceEvent
    moment: str


ATTESTS = {
    ProofKind.deposit: Attests(
        "Preuve de dépôt", EvidenceEvent.submission_acceptance, "Date et heure du dépôt"
    ),
    ProofKind.receipt: Attests(
        "Preuve de réception",
        EvidenceEvent.consignment_acceptance,
        "Date et heure de la réception (acceptation)",
    ),
    ProofKind.refusal: Attests(
        "Preuve de refus", EvidenceEvent.consignment_rejection, "Date et heure du refus"
    ),
    ProofKind.non_claim: Attests(
        "Preuve de non-réclamation",
        EvidenceEvent.acceptance_rejection_expiry,
        "Date et heure de fin du délai de 15 jours sans réclamation",
    ),
}


@dataclass(frozen=True)
class Party:
    name: str
    email: str


@dataclass(frozen=True)
class DocumentFact:
    filename: str
    sha256: str


@dataclass(frozen=True)
class LetterFacts:
    """What every proof of a letter repeats."""

    item_number: str
    sender: Party
    recipient: Party
    deposited_at: datetime
    documents: tuple[DocumentFact, ...]
    policy_id: str


@dataclass(frozen=True)
class EvidenceFact:
    event: EvidenceEvent
    event_time: datetime
    evidence_id: str
    record_sha256: str


NOT_CONFIGURED = "non renseigné (not configured)"
# What the seal is worth, in both languages: a proof may be read outside France.
ASSURANCE_LABELS = {
    (True, True): "prestataire qualifié (qualified provider)",
    (True, False): "prestataire non qualifié (not qualified)",
    (False, False): "non scellé (not sealed)",
}


@dataclass(frozen=True)
class Provider:
    """The provider that seals, named on every proof: who stands behind the seal, under which
    policy, and whether it is qualified (eIDAS art. 44; CPCE R.53-1). A provider without a
    qualified seal says so, rather than let a reader assume it."""

    legal_name: str | None
    registration: str | None  # e.g. "RCS Paris 123 456 789"
    address: str | None
    policy_id: str
    assurance: SealAssurance

    def fields(self) -> tuple[tuple[str, str], ...]:
        return (
            ("Prestataire (provider)", self.legal_name or NOT_CONFIGURED),
            ("Immatriculation (registration)", self.registration or NOT_CONFIGURED),
            ("Adresse (address)", self.address or NOT_CONFIGURED),
            ("Politique de scellement (sealing policy)", self.policy_id),
            ("Statut (status)", ASSURANCE_LABELS[(self.assurance.sealed, self.assurance.qualified)]),
        )


@dataclass(frozen=True)
class AttachedRecord:
    """A sealed evidence record a proof carries, byte for byte, with its seal: the proof and
    the evidence it attests travel together, and either checks the other (EN 319 522-2: the
    evidence is what the proof renders readable)."""

    seq: int
    body: bytes
    seal: bytes | None

    @property
    def name(self) -> str:
        """As the record is named in a bundle's `records/` folder."""
        return f"{self.seq:04d}.json"

    @property
    def seal_name(self) -> str:
        return f"{self.seq:04d}.seal.json"


@dataclass(frozen=True)
class ProofContent:
    """A proof as text: a title, labelled fields, and closing notes; and the sealed records of
    the events it attests, embedded in the PDF (PDF/A-3 associated files)."""

    title: str
    filename: str
    fields: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    evidence: tuple[AttachedRecord, ...] = ()


def deposit_facts(deposit: dict[str, Any], *, policy_id: str) -> LetterFacts:
    """What every proof repeats, from the letter's SubmissionAcceptance record."""
    if deposit.get("event") != EvidenceEvent.submission_acceptance.value:
        raise ValueError("the letter's facts come from its SubmissionAcceptance record")
    details = deposit["details"]
    sender, recipient = details["sender"], details["recipient"]
    return LetterFacts(
        item_number=deposit["item_number"],
        sender=Party(sender["name"], sender["email"]),
        recipient=Party(f"{recipient['first_name']} {recipient['last_name']}", recipient["email"]),
        deposited_at=datetime.fromisoformat(deposit["event_time"]),
        documents=tuple(DocumentFact(d["filename"], d["sha256"]) for d in details.get("documents", ())),
        policy_id=policy_id,
    )


def french_time(moment: datetime) -> str:
    """'26/11/2026 à 15:35:12 (heure de Paris), soit 14:35:12 UTC'."""
    if moment.tzinfo is None:
        raise ValueError("a proof's time must carry its time zone")
    paris = moment.astimezone(PARIS)
    utc = moment.astimezone(UTC)
    return f"{paris:%d/%m/%Y à %H:%M:%S} (heure de Paris), soit {utc:%H:%M:%S} UTC"


def _letter_fields(facts: LetterFacts) -> list[tuple[str, str]]:
    fields = [
        ("Numéro de pli", facts.item_number),
        ("Expéditeur", facts.sender.name),
        ("Adresse électronique de l'expéditeur", facts.sender.email),
        ("Destinataire", facts.recipient.name),
        ("Adresse électronique du destinataire", facts.recipient.email),
    ]
    for document in facts.documents:
        fields.append(("Document", f"{document.filename} (SHA-256 {document.sha256})"))
    return fields


def _seal_notes(seal: SealAssurance) -> tuple[str, ...]:
    return (
        f"Cachet et horodatage du prestataire : {seal.label}.",
        PROVIDER_NOTE,
    )


def proof(kind: ProofKind, facts: LetterFacts, evidence: EvidenceFact, seal: SealAssurance) -> ProofContent:
    if evidence.event is not kind.event:
        raise ValueError(f"a {kind.heading.lower()} attests {kind.event.value}, not {evidence.event.value}")
    fields = _letter_fields(facts)
    fields.append(("Date et heure du dépôt", french_time(facts.deposited_at)))
    if kind is not ProofKind.deposit:
        fields.append((kind.moment, french_time(evidence.event_time)))
    fields += [
        ("Événement (ETSI EN 319 522)", evidence.event.uri),
        ("Preuve n°", evidence.evidence_id),
        ("Empreinte de la preuve (SHA-256)", evidence.record_sha256),
        ("Politique de preuve", facts.policy_id),
    ]
    return ProofContent(
        title=f"{kind.heading} — lettre recommandée électronique",
        filename=f"{kind.value}_{facts.item_number}.pdf",
        fields=tuple(fields),
        notes=_seal_notes(seal),
    )


# What each event means, in the envelope's words.
EVENT_LABELS = {
    EvidenceEvent.submission_acceptance: "dépôt accepté",
    EvidenceEvent.submission_rejection: "dépôt refusé",
    EvidenceEvent.notification_for_acceptance: "avis de mise à disposition envoyé",
    EvidenceEvent.notification_for_acceptance_failure: "échec d'envoi de l'avis",
    EvidenceEvent.consignment_acceptance: "lettre acceptée par le destinataire",
    EvidenceEvent.consignment_rejection: "lettre refusée par le destinataire",
    EvidenceEvent.acceptance_rejection_expiry: "lettre non réclamée dans le délai de 15 jours",
    EvidenceEvent.content_handover: "contenu téléchargé par le destinataire",
    EvidenceEvent.content_handover_failure: "contenu non téléchargé dans le délai",
    EvidenceEvent.receipt_acknowledgement: "avis de réception signé par le destinataire",
    EvidenceEvent.letter_lock_lifted: "verrouillage du pli levé par le support",
    EvidenceEvent.consent_recorded: "consentement du destinataire enregistré (CPCE L.100)",
    EvidenceEvent.consent_withdrawn: "retrait du consentement du destinataire (CPCE L.100)",
    EvidenceEvent.recipient_identified: "identification du destinataire par un fournisseur d'identité",
}


def envelope(facts: LetterFacts, evidence: Sequence[EvidenceFact], seal: SealAssurance) -> ProofContent:
    """`pli_<number>.pdf`: the letter and every evidence record of its life, in order."""
    fields = _letter_fields(facts)
    fields.append(("Date et heure du dépôt", french_time(facts.deposited_at)))
    for number, fact in enumerate(evidence, start=1):
        fields.append(
            (
                f"Preuve {number} : {fact.event.value} ({EVENT_LABELS[fact.event]})",
                f"{french_time(fact.event_time)} — n° {fact.evidence_id} — SHA-256 {fact.record_sha256}",
            )
        )
    fields.append(("Politique de preuve", facts.policy_id))
    return ProofContent(
        title=f"Pli n° {facts.item_number} — lettre recommandée électronique",
        filename=f"pli_{facts.item_number}.pdf",
        fields=tuple(fields),
        notes=_seal_notes(seal),
    )
