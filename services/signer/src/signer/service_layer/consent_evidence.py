"""The consent registry's evidence (CPCE L.100): what the sealed record of each consent and
each withdrawal the archive records says (`handlers.record_event` seals it like any other).

ETSI EN 319 522-2 has no consent event: these are platform events
(`EvidenceEvent.consent_recorded`, `consent_withdrawn`; URIs under
`urn:lre:evidence-event:`), with no item number, chained per sender and address (the events'
`correlation_id`) rather than per letter; they issue no proof PDF.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lre_shared.contracts import ConsentRecorded, ConsentWithdrawn, Message
from signer.domain.evidence import EvidenceEvent
from signer.service_layer.handlers import Recording


def _consent_record(event: EvidenceEvent, details: Callable[[Any], dict[str, Any]]) -> Recording:
    """A record of the consent registry: timed when the archive recorded the change, with no
    item number, naming the consent, its sender, the address (its key) and the channel, and
    then what the change itself says (`details`)."""
    return Recording(
        event,
        time=lambda e: e.recorded_at,
        item_number=lambda e: None,
        details=lambda e: {
            "consent_id": str(e.consent_id),
            "sender_id": e.sender_id,
            "email_key": e.email_key,
            "channel": e.channel,
            **details(e),
        },
    )


RECORDINGS: dict[type[Message], Recording] = {
    # ConsentRecorded, ConsentWithdrawn (platform extensions, see EvidenceEvent): the consent
    # registry of CPCE L.100, chained per sender and address (`correlation_id`).
    ConsentRecorded: _consent_record(
        EvidenceEvent.consent_recorded,
        lambda e: {
            "email": e.email,
            "given_at": e.given_at.isoformat(),
            "text": e.text,
            "text_sha256": e.text_sha256,
            "reference": e.reference,
        },
    ),
    ConsentWithdrawn: _consent_record(
        EvidenceEvent.consent_withdrawn, lambda e: {"withdrawn_at": e.withdrawn_at.isoformat()}
    ),
}
