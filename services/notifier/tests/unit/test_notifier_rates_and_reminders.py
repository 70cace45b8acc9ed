"""Token buckets per provider, and when reminders fall (controllable clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from notifier.domain.rate import TokenBucket
from notifier.domain.reminders import next_reminder


def test_a_bucket_lets_a_burst_through_then_spaces_requests() -> None:
    bucket = TokenBucket(rate=2.0, capacity=2.0, updated=100.0)

    waits = [bucket.reserve(100.0) for _ in range(4)]

    assert waits == [0.0, 0.0, 0.5, 1.0]


def test_a_bucket_refills_with_time_up_to_its_capacity() -> None:
    bucket = TokenBucket(rate=1.0, capacity=3.0, updated=0.0)
    for _ in range(3):
        bucket.reserve(0.0)

    assert bucket.reserve(1000.0) == 0.0
    assert bucket.tokens == pytest.approx(2.0)


def test_reminders_fall_every_three_days_until_the_end_of_the_window() -> None:
    sent = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    every, deadline = timedelta(days=3), date(2025, 3, 16)
    dates = []
    at: datetime | None = sent
    while (at := next_reminder(at, every, deadline)) is not None:
        dates.append(at.date())

    assert dates == [date(2025, 3, d) for d in (4, 7, 10, 13, 16)]


def test_no_reminder_after_the_last_day_in_paris() -> None:
    # 16 March 23:30 UTC is already 17 March in Paris: past the window.
    assert (
        next_reminder(datetime(2025, 3, 13, 23, 30, tzinfo=UTC), timedelta(days=3), date(2025, 3, 16)) is None
    )
