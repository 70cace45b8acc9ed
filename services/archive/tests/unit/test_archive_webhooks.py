"""Webhooks with fakes: the retry schedule, the URLs refused, and the dispatcher's bookkeeping
(a delivery per event, attempts counted, retried until 2xx, never sent again, given up)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from archive.domain.webhooks import RetrySchedule, UrlPolicy, UrlRefused
from archive.service_layer import webhooks
from archive.service_layer.webhooks import (
    Attempt,
    Dispatch,
    DueDelivery,
    Endpoint,
    LoggedDelivery,
    WebhookStore,
)
from lre_shared.contracts import SenderEvent, SenderEventKind
from lre_shared.webhooks import WebhookRefused, verify

START = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def middle() -> float:
    return 0.5  # no jitter


# --- the schedule ---------------------------------------------------------------------------


def test_waits_grow_then_settle_at_every_fifteen_minutes() -> None:
    schedule = RetrySchedule()
    waits = [schedule.wait_after(n, middle) for n in range(1, 8)]
    minutes = [w / timedelta(minutes=1) for w in waits]
    assert minutes == [0.5, 1, 2, 5, 10, 15, 15]


def test_each_wait_is_jittered_by_at_most_a_tenth() -> None:
    schedule = RetrySchedule()
    assert schedule.wait_after(6, lambda: 0.0) == timedelta(minutes=13.5)
    assert schedule.wait_after(6, lambda: 1.0) == timedelta(minutes=16.5)


def attempts_until_given_up(schedule: RetrySchedule, draw: float) -> tuple[int, datetime]:
    at, attempts = START, 1
    while (following := schedule.next_attempt(START, attempts, at, lambda: draw)) is not None:
        at, attempts = following, attempts + 1
    return attempts, at


def test_a_failing_delivery_is_tried_for_two_days_far_more_often_than_48_times() -> None:
    # AR24 tries every 15 minutes, 48 times (12 hours): this goes on for 48 hours.
    for draw in (0.0, 0.5, 1.0):
        attempts, last = attempts_until_given_up(RetrySchedule(), draw)
        assert attempts > 48 * 3
        assert last - START > timedelta(hours=47)
        assert last - START <= timedelta(hours=48)


# --- the URLs -------------------------------------------------------------------------------


def test_only_https_urls_unless_http_is_allowed() -> None:
    assert UrlPolicy().check_url("https://erp.acme.example/lre") == ("erp.acme.example", 443)
    with pytest.raises(UrlRefused, match="https://"):
        UrlPolicy().check_url("http://erp.acme.example/lre")
    assert UrlPolicy(allow_http=True).check_url("http://erp.acme.example:8080/") == ("erp.acme.example", 8080)
    with pytest.raises(UrlRefused):
        UrlPolicy(allow_http=True).check_url("ftp://erp.acme.example/")


def test_urls_with_credentials_or_no_host_are_refused() -> None:
    for url in ("https://user:pw@erp.acme.example/", "https:///path", "https://erp.acme.example:99999/"):
        with pytest.raises(UrlRefused):
            UrlPolicy().check_url(url)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.64.0.1", "::1",
     "fe80::1", "fd00::1", "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1"],
)  # fmt: skip
def test_addresses_off_the_internet_are_refused(address: str) -> None:
    with pytest.raises(UrlRefused, match="address"):
        UrlPolicy().check_addresses("erp.acme.example", [address])
    UrlPolicy(allow_private=True).check_addresses("erp.acme.example", [address])


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(UrlRefused):
        UrlPolicy().check_addresses("erp.acme.example", ["93.184.215.14", "10.0.0.1"])
    UrlPolicy().check_addresses(
        "erp.acme.example", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    )


# --- the dispatcher, with fakes -------------------------------------------------------------


@dataclass
class Row:
    event: SenderEvent
    body: bytes
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None


@dataclass
class FakeStore:
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    rows: dict[tuple[str, UUID], Row] = field(default_factory=dict)

    async def endpoint(self, sender_id: str) -> Endpoint | None:
        return self.endpoints.get(sender_id)

    async def seal_legacy(self) -> int:
        return 0

    async def save_endpoint(self, sender_id: str, url: str, secret: str, at: datetime) -> bool:
        known = self.endpoints.get(sender_id)
        self.endpoints[sender_id] = replace(known, url=url) if known else Endpoint(sender_id, url, secret)
        return known is None

    async def rotate_secret(
        self, sender_id: str, secret: str, previous_until: datetime, at: datetime
    ) -> bool:
        known = self.endpoints.get(sender_id)
        if known is None:
            return False
        self.endpoints[sender_id] = replace(
            known, secret=secret, previous_secret=known.secret, previous_until=previous_until
        )
        return True

    async def remove_endpoint(self, sender_id: str, at: datetime) -> bool:
        return self.endpoints.pop(sender_id, None) is not None

    async def add_delivery(self, event: SenderEvent, body: bytes, at: datetime) -> bool:
        key = (event.sender_id, event.message_id)
        if key in self.rows:
            return False
        self.rows[key] = Row(event, body, at, next_attempt_at=at)
        return True

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[DueDelivery]:
        claimed = []
        for (sender_id, event_id), row in self.rows.items():
            if row.next_attempt_at is None or row.next_attempt_at > now or sender_id not in self.endpoints:
                continue
            row.attempts += 1
            row.next_attempt_at = now + lease
            claimed.append(
                DueDelivery(event_id, row.event.event.value, row.body, row.created_at, row.attempts,
                            self.endpoints[sender_id])
            )  # fmt: skip
        return claimed[:limit]

    async def record_delivered(self, sender_id: str, event_id: UUID, status: int, at: datetime) -> None:
        row = self.rows[(sender_id, event_id)]
        row.delivered_at, row.last_status, row.next_attempt_at = at, status, None

    async def record_failure(
        self, sender_id: str, event_id: UUID, attempt: Attempt, next_attempt_at: datetime | None, at: datetime
    ) -> None:
        row = self.rows[(sender_id, event_id)]
        row.last_status, row.last_error, row.next_attempt_at = attempt.status, attempt.error, next_attempt_at
        row.failed_at = at if next_attempt_at is None else None

    async def oldest_pending(self) -> datetime | None:
        return min((r.created_at for r in self.rows.values() if r.next_attempt_at is not None), default=None)

    async def log(self, sender_id: str, limit: int) -> list[LoggedDelivery]:
        return []


@dataclass
class FakeClock:
    at: datetime = START

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Receiver:
    """Answers each POST with the next status of `script` (None: no answer), then 200."""

    script: list[int | None] = field(default_factory=list)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Attempt:
        self.received.append((url, headers, body))
        status = self.script.pop(0) if self.script else 200
        return Attempt(status, None if status else "ConnectError: connection refused")


SECRET = "whsec_" + "A" * 32 + "=="  # 24 bytes, base64


def letter_event(sender_id: str = "acme", sequence: int = 1) -> SenderEvent:
    return SenderEvent(
        correlation_id=uuid4(),
        sender_id=sender_id,
        event=SenderEventKind.deposited,
        sequence=sequence,
        item_number="1A00000000017",
        event_time=START,
    )


@pytest.fixture
def store() -> FakeStore:
    return FakeStore({"acme": Endpoint("acme", "https://erp.acme.example/lre", SECRET)})


def units_over(store: FakeStore) -> webhooks.WebhookUnits:
    @asynccontextmanager
    async def unit() -> AsyncIterator[WebhookStore]:
        yield store

    return unit


async def run(store: FakeStore, receiver: Receiver, clock: FakeClock) -> int:
    dispatch = Dispatch(RetrySchedule(), batch=10, lease=timedelta(seconds=40))
    return await webhooks.dispatch_due(
        units=units_over(store), poster=receiver, dispatch=dispatch, clock=clock
    )


async def test_only_events_of_senders_with_an_endpoint_become_deliveries_once(store: FakeStore) -> None:
    ours, theirs = letter_event("acme"), letter_event("globex")
    for event in (ours, ours, theirs):
        await webhooks.take_event(event, store, clock=FakeClock())
    assert list(store.rows) == [("acme", ours.message_id)]


async def test_a_failing_receiver_is_tried_again_on_schedule_then_delivered_once(store: FakeStore) -> None:
    clock, receiver = FakeClock(), Receiver([None, 503])
    event = letter_event()
    await webhooks.take_event(event, store, clock=clock)

    assert await run(store, receiver, clock) == 1  # refused connection
    row = store.rows[("acme", event.message_id)]
    assert row.attempts == 1
    assert row.next_attempt_at is not None
    assert timedelta(seconds=27) <= row.next_attempt_at - clock.at <= timedelta(seconds=33)
    assert await run(store, receiver, clock) == 0  # not due yet

    clock.at = row.next_attempt_at
    await run(store, receiver, clock)  # 503
    assert (row.attempts, row.last_status) == (2, 503)
    assert row.next_attempt_at is not None
    clock.at = row.next_attempt_at
    await run(store, receiver, clock)  # 200
    assert row.delivered_at == clock.at
    assert row.next_attempt_at is None

    clock.at += timedelta(days=3)
    assert await run(store, receiver, clock) == 0
    assert len(receiver.received) == 3
    for _, headers, _ in receiver.received:
        assert headers["webhook-id"] == str(event.message_id)
        assert headers["content-type"] == "application/json"
    _, headers, body = receiver.received[-1]
    assert verify(SECRET, headers, body, now=clock.at - timedelta(days=3)) == event


async def test_a_receiver_never_answering_2xx_is_given_up_after_48_hours(store: FakeStore) -> None:
    clock, receiver = FakeClock(), Receiver([500] * 1000)
    event = letter_event()
    await webhooks.take_event(event, store, clock=clock)
    row = store.rows[("acme", event.message_id)]
    while row.next_attempt_at is not None:
        clock.at = max(clock.at, row.next_attempt_at)
        await run(store, receiver, clock)
    assert row.failed_at is not None
    assert timedelta(hours=47) < row.failed_at - START <= timedelta(hours=48)
    assert row.attempts == len(receiver.received) > 150


async def test_after_a_rotation_deliveries_carry_both_signatures_until_the_overlap_ends(
    store: FakeStore,
) -> None:
    clock, receiver = FakeClock(), Receiver()
    new = await webhooks.rotate_secret(
        "acme", units=units_over(store), overlap=timedelta(hours=24), clock=clock
    )
    assert new is not None
    await webhooks.take_event(letter_event(), store, clock=clock)
    await run(store, receiver, clock)
    _, headers, body = receiver.received[-1]
    assert len(headers["webhook-signature"].split()) == 2
    verify(SECRET, headers, body, now=clock.at)
    verify(new, headers, body, now=clock.at)

    clock.at += timedelta(hours=25)
    await webhooks.take_event(letter_event(sequence=2), store, clock=clock)
    await run(store, receiver, clock)
    _, headers, body = receiver.received[-1]
    verify(new, headers, body, now=clock.at)
    with pytest.raises(WebhookRefused, match="signature"):
        verify(SECRET, headers, body, now=clock.at)


async def test_a_ping_is_signed_and_answered(store: FakeStore) -> None:
    receiver = Receiver([204])
    attempt = await webhooks.ping("acme", units=units_over(store), poster=receiver, clock=FakeClock())
    assert attempt is not None
    assert attempt.delivered
    assert await webhooks.ping("globex", units=units_over(store), poster=receiver, clock=FakeClock()) is None
