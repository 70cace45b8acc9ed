"""Evidence records, named after the events of ETSI EN 319 522-2.

Each record is canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and holds its
position in the letter's chain (`seq`) and the SHA-256 of the letter's previous record, so
the records of a letter form a hash chain: removing or editing one breaks every link after
it, and a missing position shows as a gap.

Each record also says how it is sealed (`seal`): by the provider's key with an RFC 3161
timestamp, labelled "non qualifié" unless both the key and the TSA are qualified
(eIDAS art. 44 asks a qualified ERDS for qualified seals and timestamps: anything less is
said so, in the record itself); or not at all, when no seal key is configured.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import rfc8785

from lre_shared.contracts import NoticeChannel

EVENT_URI_BASE = "http://uri.etsi.org/19522/Event/"
# Events of this platform that ETSI EN 319 522-2 does not name get a URI of our own, never
# one under uri.etsi.org: a verifier must not take them for ETSI events.
PLATFORM_EVENT_URI_BASE = "urn:lre:evidence-event:"


class EvidenceEvent(StrEnum):
    submission_acceptance = "SubmissionAcceptance"
    submission_rejection = "SubmissionRejection"
    notification_for_acceptance = "NotificationForAcceptance"
    notification_for_acceptance_failure = "NotificationForAcceptanceFailure"
    consignment_acceptance = "ConsignmentAcceptance"
    consignment_rejection = "ConsignmentRejection"
    acceptance_rejection_expiry = "AcceptanceRejectionExpiry"
    content_handover = "ContentHandover"
    content_handover_failure = "ContentHandoverFailure"
    # Platform extension, not an ETSI EN 319 522-2 event: the recipient signed the
    # acknowledgement of receipt (avis de réception, CPCE R.53-3), with a personal certificate
    # or a one-time code. ETSI's ConsignmentAcceptance is the acceptance itself, recorded
    # before; the signed AR is a later, distinct fact with facts of its own (method, signer,
    # hash of the signed AR), so it gets its own record rather than a second
    # ConsignmentAcceptance.
    receipt_acknowledgement = "ReceiptAcknowledgement"
    # Platform extension, not an ETSI EN 319 522-2 event (the standard names none for it): a
    # supervisor lifted the holds that wrong identities or codes had put on the letter, so
    # that the recipient may answer again within the 15-day window (CPCE R.53-3). The record
    # keeps who lifted them, why and when, beside the letter's other evidence.
    letter_lock_lifted = "LetterLockLifted"
    # Platform extensions, not ETSI EN 319 522-2 events (the standard has none for consent): a
    # sender recorded a recipient's consent to electronic registered letters, or its
    # withdrawal (CPCE L.100: needed before a letter to a recipient who is not a
    # professional). Chained per sender and address, not per letter: the chain is the
    # consent's history, each record with what was agreed to (the text and its SHA-256).
    consent_recorded = "ConsentRecorded"
    consent_withdrawn = "ConsentWithdrawn"
    # Platform extension, not an ETSI EN 319 522-2 event (the standard names no event for the
    # identification itself): a visitor of the letter's pages proved who they are through an
    # identity provider at an eIDAS level (CPCE R.53-1: FranceConnect+, substantial or high),
    # and the site compared the names given with the letter's recipient. The record keeps the
    # provider, the person's subject there, the level, the sign-in time, the names (the birth
    # date only as a hash) and the outcome: matched, mismatched, or a level too low.
    recipient_identified = "RecipientIdentified"

    @property
    def is_platform_extension(self) -> bool:
        return self in PLATFORM_EVENTS

    @property
    def uri(self) -> str:
        return (PLATFORM_EVENT_URI_BASE if self.is_platform_extension else EVENT_URI_BASE) + self.value

    @property
    def negative(self) -> bool:
        """A rejection, failure or expiry: its record says why."""
        return self in NEGATIVE_EVENTS


PLATFORM_EVENTS = frozenset(
    {
        EvidenceEvent.receipt_acknowledgement,
        EvidenceEvent.letter_lock_lifted,
        EvidenceEvent.consent_recorded,
        EvidenceEvent.consent_withdrawn,
        EvidenceEvent.recipient_identified,
    }
)
NEGATIVE_EVENTS = frozenset(
    {
        EvidenceEvent.submission_rejection,
        EvidenceEvent.notification_for_acceptance_failure,
        EvidenceEvent.consignment_rejection,
        EvidenceEvent.acceptance_rejection_expiry,
        EvidenceEvent.content_handover_failure,
    }
)
# CPCE R.53-3: the letter's fate is settled (receipt signed, refused, unclaimed); the envelope
# summarising its evidence is issued from then on.
FINAL_EVENTS = frozenset(
    {
        EvidenceEvent.receipt_acknowledgement,
        EvidenceEvent.consignment_rejection,
        EvidenceEvent.acceptance_rejection_expiry,
    }
)


def notice_channel(record: dict[str, Any]) -> NoticeChannel | None:
    """The channel a notification record speaks of (email, sms, voice, fax), if any."""
    details = record.get("details")
    channel = details.get("channel") if isinstance(details, dict) else None
    return NoticeChannel(channel) if channel in set(NoticeChannel) else None


def reasons(record: dict[str, Any]) -> tuple[str, ...]:
    """Why a negative event happened, as its record states it: one `reason`, or one line per
    refused field of a deposit (`problems`)."""
    details = record.get("details")
    if not isinstance(details, dict):
        return ()
    found: list[str] = []
    if isinstance(details.get("reason"), str):
        found.append(details["reason"])
    for problem in details.get("problems") or ():
        if isinstance(problem, dict):
            found.append(f"{problem.get('field', '?')}: {problem.get('reason', '')}")
    return tuple(found)


# The records that name whose chain it is: a letter's deposit (accepted or refused), or a
# consent of the registry (CPCE L.100), whose chain is the sender's for one address.
DEPOSIT_EVENTS = frozenset(
    {EvidenceEvent.submission_acceptance, EvidenceEvent.submission_rejection, EvidenceEvent.consent_recorded}
)


def letter_sender(records: list[dict[str, Any]]) -> str | None:
    """The sender id of a letter, as the record of its deposit states it (SubmissionAcceptance:
    the sender; SubmissionRejection: the sender the refusal went to); None before any."""
    for record in records:
        if record.get("event") not in DEPOSIT_EVENTS:
            continue
        details = record.get("details")
        if not isinstance(details, dict):
            continue
        sender = details.get("sender")
        found = sender.get("id") if isinstance(sender, dict) else details.get("sender_id")
        if isinstance(found, str) and found:
            return found
    return None


UNSEALED_LABEL = "non scellé — aucune clé de scellement configurée"  # unsealed: no seal key configured
NON_QUALIFIED_LABEL = "non qualifié"  # non-qualified seal or timestamp
QUALIFIED_LABEL = "qualifié"


@dataclass(frozen=True)
class SealAssurance:
    """What a record's seal is worth, written into the record before it is sealed."""

    sealed: bool
    qualified: bool = False

    def __post_init__(self) -> None:
        if self.qualified and not self.sealed:
            raise ValueError("an unsealed record cannot be qualified")

    @property
    def label(self) -> str:
        if not self.sealed:
            return UNSEALED_LABEL
        return QUALIFIED_LABEL if self.qualified else NON_QUALIFIED_LABEL

    def as_record(self) -> dict[str, Any]:
        return {"sealed": self.sealed, "qualified": self.qualified, "label": self.label}


UNSEALED = SealAssurance(sealed=False)


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS): sorted keys, no insignificant whitespace, UTF-8, ES6 numbers."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as e:
        raise ValueError(f"not representable as canonical JSON (RFC 8785): {e}") from e


def build_record(
    *,
    evidence_id: UUID,
    event: EvidenceEvent,
    event_time: datetime,
    letter_id: UUID,
    item_number: str | None,
    details: dict[str, Any],
    policy_id: str,
    seq: int,
    previous_sha256: str | None,
    seal: SealAssurance,
) -> tuple[bytes, str]:
    """The record's canonical bytes and their SHA-256."""
    if (seq == 1) != (previous_sha256 is None):
        raise ValueError("the first record of a chain, and only it, has no previous record")
    record = {
        "evidence_id": str(evidence_id),
        "event": event.value,
        "event_uri": event.uri,
        "event_time": event_time.isoformat(),
        "letter_id": str(letter_id),
        "item_number": item_number,
        "details": details,
        "policy_id": policy_id,
        "seq": seq,
        "previous_sha256": previous_sha256,
        "seal": seal.as_record(),
    }
    body = canonical_json(record)
    return body, hashlib.sha256(body).hexdigest()
