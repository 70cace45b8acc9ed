"""What sender systems are told: one event per fact about one of their letters.

The archive publishes every `SenderEvent` on `lre.senders.events` with routing key
`<sender id>.<event>` (`lre_shared.topology.sender_routing_key`), through its outbox; a sender
binds one queue (`lre.sender.<sender id>`, bound `<sender id>.#`) and gets only its own
letters. Webhooks carry the same JSON body. `sequence` counts a letter's events from 1, so a
receiver can tell order and gaps per letter whatever the transport did.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from lre_shared.contracts.archive import Problem
from lre_shared.contracts.base import Message, NoticeChannel, UtcDatetime
from lre_shared.topology import SENDERS_EVENTS_EXCHANGE, sender_routing_key


class SenderEventKind(StrEnum):
    """The facts a sender may act on, with the ETSI EN 319 522 event behind each where one is."""

    deposited = "deposited"  # SubmissionAcceptance
    rejected = "rejected"  # SubmissionRejection: `problems` says why, by field
    notice_sent = "notice_sent"  # NotificationForAcceptance, per `channel`
    notice_failed = "notice_failed"  # NotificationForAcceptanceFailure, per `channel`
    accepted = "accepted"  # ConsignmentAcceptance
    refused = "refused"  # ConsignmentRejection
    unclaimed = "unclaimed"  # AcceptanceRejectionExpiry (non réclamée, CPCE R.53-3)
    receipt_signed = "receipt_signed"  # the acknowledgement of receipt (avis de réception) is signed
    downloaded = "downloaded"  # ContentHandover
    content_expired = "content_expired"  # ContentHandoverFailure: the download window passed
    proof_available = "proof_available"  # a sealed proof PDF can be fetched (`proof_kind`)


class SenderEvent(Message):
    """One fact about one of the sender's letters (`correlation_id` is the letter id), published
    by the archive on `lre.senders.events` under `{sender_id}.{event}`; a sender system reads
    its own durable queue `lre.sender.{sender_id}`, bound `{sender_id}.#`."""

    exchange: ClassVar[str] = SENDERS_EVENTS_EXCHANGE
    # The routing key is `<sender id>.<event>` (`sender_key`); this names the contract.
    routing_key: ClassVar[str] = "sender_event.v1"
    routing_key_pattern: ClassVar[str] = "{sender_id}.{event}"

    sender_id: str = Field(description="The sender system (one routing-key word).")
    event: SenderEventKind = Field(description="What happened (the last word of the routing key).")
    sequence: int = Field(ge=1, description="The letter's events counted from 1, in the order they happened.")
    item_number: str | None = Field(default=None, description="Numéro de pli (none for a rejected deposit).")
    idempotency_key: str | None = None
    event_time: UtcDatetime = Field(description="When the fact happened (the source event's time).")
    channel: NoticeChannel | None = Field(
        default=None, description="notice_sent or notice_failed: the channel."
    )
    reason: str | None = Field(default=None, description="notice_failed: why, as the provider said.")
    problems: tuple[Problem, ...] = Field(default=(), description="rejected: every problem by field.")
    proof_kind: str | None = Field(
        default=None, description="proof_available: deposit, receipt, refusal, non_claim or envelope."
    )
    proof_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @property
    def sender_key(self) -> str:
        """The routing key this event travels under on `lre.senders.events`."""
        return sender_routing_key(self.sender_id, self.event.value)

    @property
    def published_key(self) -> str:
        return self.sender_key
