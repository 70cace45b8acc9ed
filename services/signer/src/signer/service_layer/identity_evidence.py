"""The evidence of a recipient's identification through an identity provider (CPCE R.53-1:
an identity provider at eIDAS level substantial or high, FranceConnect+): what the sealed
record says (`handlers.record_event` seals it like any other record of the letter's chain).

A platform event (`EvidenceEvent.recipient_identified`, URI under `urn:lre:evidence-event:`),
chained with the letter's other records; it issues no proof PDF of its own (the envelope
lists it with the rest). Minimised: the names the match compared, the birth date only as a
SHA-256, never the provider's tokens.
"""

from __future__ import annotations

from lre_shared.contracts import Message, RecipientIdentified
from signer.domain.evidence import EvidenceEvent
from signer.service_layer.handlers import Recording

RECORDINGS: dict[type[Message], Recording] = {
    RecipientIdentified: Recording(
        EvidenceEvent.recipient_identified,
        time=lambda e: e.identified_at,
        details=lambda e: {
            "issuer": e.issuer,
            "subject": e.subject,
            "acr": e.acr,
            "auth_time": None if e.auth_time is None else e.auth_time.isoformat(),
            "claims": e.claims.model_dump(mode="json"),
            "outcome": e.outcome.value,
            "purpose": e.purpose,
            "reason": e.reason,
        },
    ),
}
