"""The acknowledgement of receipt (avis de réception, AR) signed with a personal certificate.

CPCE R.53-3: the provider gives the sender proof of the recipient's receipt. On the personal
certificate path the recipient signs, with their own certificate (PAdES), an AR PDF that
the signer issues once the letter is accepted (ETSI EN 319 522-2 ConsignmentAcceptance), and
uploads it. The signer accepts the signed AR only if the signature is intact, the signed
revision is, byte for byte, the AR issued for this letter (the recipient signed what we asked
them to sign, nothing else), its certificate chains to a configured trust root, was valid and
not revoked (OCSP or CRL) at the signature's time (proved by a signature timestamp, else the
time the AR was received), is meant for signing (key usage), and names the recipient.

This module is what the AR says, and what "names the recipient" means; the pyHanko checks
are in `adapters/receipt_check.py`.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lre_shared.contracts import ReceiptProblem
from signer.domain.evidence import EvidenceEvent
from signer.domain.proofs import LetterFacts, ProofContent, deposit_facts, french_time

RECEIPT_FORM_TITLE = "Avis de réception — lettre recommandée électronique"
DECLARATION = (
    "Je soussigné(e), destinataire désigné(e) ci-dessus, reconnais avoir reçu la lettre"
    " recommandée électronique portant ce numéro de pli, et l'avoir acceptée à la date indiquée."
)
HOW_TO_SIGN = (
    "Signez ce document tel quel (signature PAdES) avec votre certificat personnel, puis"
    " déposez-le. Un document modifié avant la signature sera refusé."
)


@dataclass(frozen=True)
class Recipient:
    first_name: str
    last_name: str
    email: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class AcceptedLetter:
    """What the AR states, from the letter's evidence records."""

    facts: LetterFacts
    recipient: Recipient
    accepted_at: datetime


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a signed AR: `problem` None when it is accepted. `detail` is the
    technical finding, in English, for logs and support; the other fields let a page word it in
    its own language."""

    problem: ReceiptProblem | None
    detail: str
    signer_name: str | None = None
    issuer_name: str | None = None
    problem_at: datetime | None = None  # the certificate's end or start of validity, or revocation
    judged_at: datetime | None = None  # the moment the certificate was judged at
    timestamped: bool = False  # `judged_at` is a trusted signature timestamp's time
    # Accepted: the signed AR as uploaded plus, in its DSS, the revocation data and chain its
    # check used (PAdES B-LT), kept so the judgement can be re-checked offline.
    long_term: bytes | None = None

    @property
    def accepted(self) -> bool:
        return self.problem is None


class NotReady(ValueError):
    """No AR can be issued yet (the reason is for the page that asked)."""


def accepted_letter(records: list[bytes], *, policy_id: str) -> AcceptedLetter:
    """The letter's facts from its SubmissionAcceptance and ConsignmentAcceptance records."""
    bodies: list[dict[str, Any]] = [json.loads(record) for record in records]
    deposit = next((b for b in bodies if b["event"] == EvidenceEvent.submission_acceptance.value), None)
    acceptance = next((b for b in bodies if b["event"] == EvidenceEvent.consignment_acceptance.value), None)
    if deposit is None:
        raise NotReady("no deposit on record for this letter")
    if acceptance is None:
        # CPCE R.53-3: the AR attests receipt, which is acceptance; nothing to sign before it.
        raise NotReady("the letter is not accepted: no acknowledgement of receipt to sign")
    recipient = deposit["details"]["recipient"]
    person = Recipient(recipient["first_name"], recipient["last_name"], recipient["email"])
    facts = deposit_facts(deposit, policy_id=policy_id)
    return AcceptedLetter(facts, person, datetime.fromisoformat(acceptance["event_time"]))


def receipt_form(letter: AcceptedLetter, letter_id: str) -> ProofContent:
    """The AR to sign. The sender may be named: the letter is accepted (CPCE R.53-3 hides the
    sender only until then)."""
    facts = letter.facts
    fields = [
        ("Numéro de pli", facts.item_number),
        ("Identifiant de la lettre", letter_id),
        ("Destinataire", facts.recipient.name),
        ("Adresse électronique du destinataire", facts.recipient.email),
        ("Expéditeur", facts.sender.name),
        ("Adresse électronique de l'expéditeur", facts.sender.email),
        ("Date et heure du dépôt", french_time(facts.deposited_at)),
        ("Date et heure de la réception (acceptation)", french_time(letter.accepted_at)),
    ]
    fields += [("Document", f"{d.filename} (SHA-256 {d.sha256})") for d in facts.documents]
    fields.append(("Politique de preuve", facts.policy_id))
    return ProofContent(
        title=RECEIPT_FORM_TITLE,
        filename=f"ar_{facts.item_number}.pdf",
        fields=tuple(fields),
        notes=(DECLARATION, HOW_TO_SIGN),
    )


def _tokens(name: str) -> list[str]:
    """Accents, case, hyphens, apostrophes and spacing do not matter ("MARTIN Camille",
    "camille martin", "Camille  Martin" are one name); the words and their count do."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return sorted("".join(c if c.isalnum() else " " for c in plain).split())


def names_match(recipient: Recipient, certificate_names: list[str]) -> bool:
    """Does any name the certificate gives (given name + surname, or common name) name the
    recipient the sender declared?"""
    expected = _tokens(recipient.name)
    return any(_tokens(name) == expected for name in certificate_names if name.strip())
