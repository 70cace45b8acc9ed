"""The consent registry's evidence (CPCE L.100): what the sealed record of each consent and
each withdrawal the archive records says (`handlers.record_event` seals it like any other).

ETSI EN 319 522-2 has no consent event: these are platform events
(`EvidenceEvent.consent_recorded`, `consent_withdrawn`; URIs under
`urn:lre:evidence-event:`), with no item number, chained per sender and address (the events'
`correlation_id`) rather than per letter; they issue no proof PDF.
"""

from __future__ import annotations

from lre_shared.contracts import ConsentRecorded, ConsentWithdrawn, Message
from signer.domain.evidence import EvidenceEvent
from signer.service_layer.handlers import Recording

RECORDINGS: dict[type[Message], Recording] = {
    # ConsentRecorded, ConsentWithdrawn (platform extensions, see EvidenceEvent): the consent
    # registry of CPCE L.100, chained per sender and address (`correlation_id`); no item number.
    ConsentRecorded: Recording(
        EvidenceEvent.consent_recorded,
        time=lambda e: e.recorded_at,
        item_number=lambda e: None,
        details=lambda e: {
            "consent_id": str(e.consent_id),
            "sender_id": e.sender_id,
            "email": e.email,
            "email_key": e.email_key,
            "given_at": e.given_at.isoformat(),
            "channel": e.channel,
            "text": e.text,
            "text_sha256": e.text_sha256,
            "reference": e.reference,
        },
    ),
    ConsentWithdrawn: Recording(
        EvidenceEvent.consent_withdrawn,
        time=lambda e: e.recorded_at,
        item_number=lambda e: None,
        details=lambda e: {
            "consent_id": str(e.consent_id),
            "sender_id": e.sender_id,
            "email_key": e.email_key,
            "withdrawn_at": e.withdrawn_at.isoformat(),
            "channel": e.channel,
        },
    ),
}
