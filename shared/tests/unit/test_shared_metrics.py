"""The counters a service's code feeds through `lre_shared.metrics`."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from lre_shared import metrics
from lre_shared.contracts import CodeSent, LetterAccepted, NoticeChannel, NoticeFailed, NoticeSent, now_utc


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_notices_count_by_channel_and_outcome_as_the_outbox_publishes_them() -> None:
    letter = uuid.uuid4()
    sent = NoticeSent(
        correlation_id=letter,
        notice_id=uuid.uuid4(),
        item_number="123456789012",
        channel=NoticeChannel.sms,
        address="+33612345678",
        sent_at=now_utc(),
    )
    failed = NoticeFailed(
        correlation_id=letter,
        notice_id=uuid.uuid4(),
        item_number="123456789012",
        channel=NoticeChannel.email,
        address="x@example.com",
        reason="mailbox unknown",
        permanent=True,
    )
    code = CodeSent(correlation_id=letter, code_id=uuid.uuid4(), channel="email", sent_at=now_utc())
    before = (
        value("lre_notices_total", channel="sms", outcome="sent"),
        value("lre_notices_total", channel="email", outcome="failed"),
        value("lre_codes_total", channel="email", outcome="sent"),
        value("lre_events_published_total", routing_key=NoticeSent.routing_key),
    )

    for message in (sent, failed, code):
        metrics.published(message.routing_key, message.to_json())

    after = (
        value("lre_notices_total", channel="sms", outcome="sent"),
        value("lre_notices_total", channel="email", outcome="failed"),
        value("lre_codes_total", channel="email", outcome="sent"),
        value("lre_events_published_total", routing_key=NoticeSent.routing_key),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1, 1]


def test_other_events_count_as_published_only() -> None:
    accepted = LetterAccepted(correlation_id=uuid.uuid4(), item_number="123456789012", accepted_at=now_utc())
    notices = sum(
        value("lre_notices_total", channel=c.value, outcome=o)
        for c in NoticeChannel
        for o in ("sent", "delivered", "failed")
    )

    metrics.published(accepted.routing_key, accepted.to_json())

    assert value("lre_events_published_total", routing_key=accepted.routing_key) >= 1
    assert (
        sum(
            value("lre_notices_total", channel=c.value, outcome=o)
            for c in NoticeChannel
            for o in ("sent", "delivered", "failed")
        )
        == notices
    )


def test_the_pickup_funnel_shows_every_step_from_the_start_and_counts_each() -> None:
    steps = ("item_number", "identity", "accepted", "refused", "signed", "downloaded")
    assert all(REGISTRY.get_sample_value("lre_pickup_funnel_total", {"step": s}) is not None for s in steps)
    before = value("lre_pickup_funnel_total", step="identity")

    metrics.pickup_step("identity")

    assert value("lre_pickup_funnel_total", step="identity") == before + 1
