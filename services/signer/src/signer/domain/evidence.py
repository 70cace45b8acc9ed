"""Evidence records, named after the events of ETSI EN 319 522-2.

Each record is canonical JSON (sorted keys, no insignificant whitespace, UTF-8) and holds
the SHA-256 of the letter's previous record, so the records of a letter form a hash
chain: removing or editing one breaks every hash after it.

This is the minimal record of the foundation: sealing with the provider's key and an
RFC 3161 timestamp come with the evidence capability.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

EVENT_URI_BASE = "http://uri.etsi.org/19522/Event/"


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

    @property
    def uri(self) -> str:
        return EVENT_URI_BASE + self.value


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def build_record(
    *,
    evidence_id: UUID,
    event: EvidenceEvent,
    event_time: datetime,
    letter_id: UUID,
    item_number: str | None,
    details: dict[str, Any],
    policy_id: str,
    previous_sha256: str | None,
) -> tuple[bytes, str]:
    """The record's canonical bytes and their SHA-256."""
    record = {
        "evidence_id": str(evidence_id),
        "event": event.value,
        "event_uri": event.uri,
        "event_time": event_time.isoformat(),
        "letter_id": str(letter_id),
        "item_number": item_number,
        "details": details,
        "policy_id": policy_id,
        "previous_sha256": previous_sha256,
    }
    body = canonical_json(record)
    return body, hashlib.sha256(body).hexdigest()
