"""Properties of the acceptance window of FR_LRE, over many generated notice times.

CPCE R.53-3: the recipient has 15 days, counted from the day after the first notice, to
accept or refuse; days are Paris calendar days (Europe/Paris), so the window ends at
midnight Paris time after the 15th day, whatever the daylight-saving rules do meanwhile.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lre_shared.rules import FR_LRE

PARIS = ZoneInfo("Europe/Paris")
DAYS = FR_LRE.acceptance_days
ZONES = [UTC, PARIS, ZoneInfo("America/New_York"), ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Asia/Kolkata")]

# Instants anywhere in a century, expressed in UTC.
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
paris_days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 30))


def last_sunday(year: int, month: int) -> date:
    """Where the EU changes the clocks (Directive 2000/84/EC): the last Sunday of March and October."""
    day = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


@st.composite
def month_end_days(draw: st.DrawFn) -> date:
    """The last days of a month, 29 February of leap years among them."""
    year = draw(st.integers(2000, 2099))
    month = draw(st.integers(1, 12))
    end = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return end - timedelta(days=draw(st.integers(0, 20)))


@st.composite
def days_around_clock_changes(draw: st.DrawFn) -> date:
    change = last_sunday(draw(st.integers(2000, 2099)), draw(st.sampled_from([3, 10])))
    return change + timedelta(days=draw(st.integers(-20, 20)))


def at_paris(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


# ---------------------------------------------------------------------- the last day


@given(instants)
def test_the_last_day_is_fifteen_paris_days_after_the_paris_day_of_the_notice(notice: datetime) -> None:
    paris_day = notice.astimezone(PARIS).date()

    assert (FR_LRE.acceptance_deadline(notice) - paris_day).days == DAYS


@given(st.one_of(month_end_days(), paris_days), st.integers(0, 23), st.integers(0, 59))
@example(date(2028, 2, 14), 10, 0)  # leap year: the 15th day is 29 February
@example(date(2027, 2, 14), 10, 0)  # common year: it is 1 March
@example(date(2025, 12, 20), 10, 0)  # across the new year
def test_the_count_crosses_month_ends_and_leap_days_day_by_day(day: date, hour: int, minute: int) -> None:
    deadline = FR_LRE.acceptance_deadline(at_paris(day, hour, minute))

    # Counted one calendar day at a time: the day after the notice is day 1.
    counted = day
    for _ in range(DAYS):
        counted = date.fromordinal(counted.toordinal() + 1)
    assert deadline == counted


def test_leap_day_examples() -> None:
    assert FR_LRE.acceptance_deadline(at_paris(date(2028, 2, 14), 9, 0)) == date(2028, 2, 29)
    assert FR_LRE.acceptance_deadline(at_paris(date(2027, 2, 14), 9, 0)) == date(2027, 3, 1)
    assert FR_LRE.acceptance_deadline(at_paris(date(2028, 2, 29), 9, 0)) == date(2028, 3, 15)


@given(instants, st.sampled_from(ZONES))
def test_the_zone_the_notice_time_is_written_in_does_not_matter(notice: datetime, zone: ZoneInfo) -> None:
    assert FR_LRE.acceptance_deadline(notice.astimezone(zone)) == FR_LRE.acceptance_deadline(notice)


@given(st.one_of(paris_days, days_around_clock_changes()))
def test_a_notice_at_23_59_paris_gets_one_day_less_than_one_at_00_01_the_next_day(day: date) -> None:
    late = FR_LRE.acceptance_deadline(at_paris(day, 23, 59))
    early_next = FR_LRE.acceptance_deadline(at_paris(day + timedelta(days=1), 0, 1))

    assert early_next - late == timedelta(days=1)
    assert late == day + timedelta(days=DAYS)


@given(instants, instants)
def test_a_later_notice_never_closes_the_window_earlier(first: datetime, second: datetime) -> None:
    earlier, later = sorted((first, second))

    assert FR_LRE.acceptance_deadline(earlier) <= FR_LRE.acceptance_deadline(later)
    assert FR_LRE.window_closes_at(FR_LRE.acceptance_deadline(earlier)) <= FR_LRE.window_closes_at(
        FR_LRE.acceptance_deadline(later)
    )


def test_a_notice_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        FR_LRE.acceptance_deadline(datetime(2025, 3, 1, 10, 0))


# ----------------------------------------------------------------- the closing instant


@given(st.one_of(paris_days, days_around_clock_changes(), month_end_days()))
def test_the_window_closes_at_midnight_paris_after_the_last_day(last_day: date) -> None:
    closes = FR_LRE.window_closes_at(last_day)

    assert closes.utcoffset() == timedelta(0)
    local = closes.astimezone(PARIS)
    assert (local.date(), local.time()) == (last_day + timedelta(days=1), time(0, 0))
    # The whole last day is open, to its last microsecond.
    assert (closes - timedelta(microseconds=1)).astimezone(PARIS).date() == last_day


@given(st.one_of(days_around_clock_changes(), paris_days))
def test_the_last_day_lasts_23_hours_in_march_and_25_in_october_on_clock_change_sundays(
    last_day: date,
) -> None:
    length = FR_LRE.window_closes_at(last_day) - FR_LRE.window_closes_at(last_day - timedelta(days=1))

    if last_day == last_sunday(last_day.year, 3):
        assert length == timedelta(hours=23)
    elif last_day == last_sunday(last_day.year, 10):
        assert length == timedelta(hours=25)
    else:
        assert length == timedelta(hours=24)


@given(st.one_of(instants, days_around_clock_changes().map(lambda d: at_paris(d, 12, 0).astimezone(UTC))))
def test_the_window_is_open_for_fifteen_to_sixteen_days_give_or_take_a_clock_change(notice: datetime) -> None:
    closes = FR_LRE.window_closes_at(FR_LRE.acceptance_deadline(notice))
    open_for = closes - notice

    assert (
        timedelta(days=DAYS) - timedelta(hours=1) < open_for <= timedelta(days=DAYS + 1) + timedelta(hours=1)
    )
    # On the Paris wall clock, it is never more than 16 days nor 15 days or less.
    wall = closes.astimezone(PARIS).replace(tzinfo=None) - notice.astimezone(PARIS).replace(tzinfo=None)
    assert timedelta(days=DAYS) < wall <= timedelta(days=DAYS + 1)


@given(instants)
def test_the_notice_instant_itself_is_inside_the_window(notice: datetime) -> None:
    assert notice < FR_LRE.window_closes_at(FR_LRE.acceptance_deadline(notice))
