"""FR_LRE: 15 days from the day after the first notice, counted on Paris dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from lre_shared.rules import FR_LRE, PROFILES

PARIS = ZoneInfo("Europe/Paris")


def test_fr_lre_gives_fifteen_days() -> None:
    assert FR_LRE.acceptance_days == 15


def test_fr_lre_is_registered_by_name() -> None:
    assert PROFILES["fr_lre"] is FR_LRE


def test_notice_on_1_march_gives_16_march_as_last_day() -> None:
    notice = datetime(2025, 3, 1, 10, 0, tzinfo=PARIS)

    assert FR_LRE.acceptance_deadline(notice) == date(2025, 3, 16)


def test_window_closes_at_midnight_paris_after_the_last_day_expressed_in_utc() -> None:
    closes = FR_LRE.window_closes_at(date(2025, 3, 16))

    assert closes == datetime(2025, 3, 17, 0, 0, tzinfo=PARIS)
    assert closes.tzinfo is UTC
    assert closes == datetime(2025, 3, 16, 23, 0, tzinfo=UTC)


def test_a_notice_late_in_the_utc_evening_counts_from_the_paris_date() -> None:
    # 28 Feb 23:30 UTC is already 1 March 00:30 in Paris.
    notice = datetime(2025, 2, 28, 23, 30, tzinfo=UTC)

    assert FR_LRE.acceptance_deadline(notice) == date(2025, 3, 16)


def test_a_notice_just_before_paris_midnight_counts_from_that_day() -> None:
    notice = datetime(2025, 3, 1, 22, 59, tzinfo=UTC)  # 23:59 in Paris

    assert FR_LRE.acceptance_deadline(notice) == date(2025, 3, 16)


def test_the_time_of_day_of_the_notice_does_not_change_the_deadline() -> None:
    morning = datetime(2025, 3, 1, 0, 1, tzinfo=PARIS)
    evening = datetime(2025, 3, 1, 23, 59, tzinfo=PARIS)

    assert FR_LRE.acceptance_deadline(morning) == FR_LRE.acceptance_deadline(evening)


def test_a_deadline_across_the_spring_dst_change_is_still_fifteen_calendar_days() -> None:
    notice = datetime(2025, 3, 20, 10, 0, tzinfo=PARIS)  # clocks go forward 30 March

    assert FR_LRE.acceptance_deadline(notice) == date(2025, 4, 4)


def test_last_day_on_spring_dst_sunday_closes_at_local_midnight_in_summer_time() -> None:
    closes = FR_LRE.window_closes_at(date(2025, 3, 30))

    assert closes == datetime(2025, 3, 30, 22, 0, tzinfo=UTC)  # 31 March 00:00 CEST


def test_last_day_before_spring_dst_sunday_closes_at_local_midnight_in_winter_time() -> None:
    closes = FR_LRE.window_closes_at(date(2025, 3, 29))

    assert closes == datetime(2025, 3, 29, 23, 0, tzinfo=UTC)  # 30 March 00:00 CET


def test_last_day_on_autumn_dst_sunday_closes_at_local_midnight_in_winter_time() -> None:
    closes = FR_LRE.window_closes_at(date(2025, 10, 26))

    assert closes == datetime(2025, 10, 26, 23, 0, tzinfo=UTC)  # 27 October 00:00 CET


def test_last_day_before_autumn_dst_sunday_closes_at_local_midnight_in_summer_time() -> None:
    closes = FR_LRE.window_closes_at(date(2025, 10, 25))

    assert closes == datetime(2025, 10, 25, 22, 0, tzinfo=UTC)  # 26 October 00:00 CEST


def test_every_window_in_dst_change_weeks_closes_at_paris_midnight() -> None:
    last_days = [date(2025, 3, 24) + timedelta(days=i) for i in range(10)]
    last_days += [date(2025, 10, 20) + timedelta(days=i) for i in range(10)]

    for last_day in last_days:
        local = FR_LRE.window_closes_at(last_day).astimezone(PARIS)
        assert (local.date(), local.hour, local.minute) == (last_day + timedelta(days=1), 0, 0), last_day


def test_the_window_of_a_deadline_is_open_on_the_whole_last_day() -> None:
    notice = datetime(2025, 10, 11, 10, 0, tzinfo=PARIS)
    deadline = FR_LRE.acceptance_deadline(notice)

    closes = FR_LRE.window_closes_at(deadline)

    assert datetime(2025, 10, 26, 23, 59, 59, tzinfo=PARIS) < closes
    assert closes == datetime(2025, 10, 27, 0, 0, tzinfo=PARIS)


# ------------------------------------------------------------ when the content goes

ACCEPTED = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)  # a Friday
CLOSES = datetime(2026, 3, 17, 23, 0, tzinfo=UTC)


def test_the_download_window_runs_48_hours_from_the_signature_of_the_ar() -> None:
    signed = ACCEPTED + timedelta(days=3)  # the identity checked over the weekend

    assert FR_LRE.download_window_ends_at(signed) == signed + timedelta(hours=48)
    assert FR_LRE.content_kept_until(
        window_closes_at=CLOSES, accepted_at=ACCEPTED, receipt_signed_at=signed
    ) == signed + timedelta(hours=48)


def test_a_signature_late_in_the_grace_still_gets_its_48_hours_past_the_window() -> None:
    signed = CLOSES + timedelta(hours=20)

    assert FR_LRE.content_kept_until(
        window_closes_at=CLOSES, accepted_at=ACCEPTED, receipt_signed_at=signed
    ) == signed + timedelta(hours=48)


def test_accepted_and_not_signed_the_content_waits_until_the_window_closes_plus_the_grace() -> None:
    kept = FR_LRE.content_kept_until(window_closes_at=CLOSES, accepted_at=ACCEPTED, receipt_signed_at=None)

    assert kept == CLOSES + timedelta(hours=FR_LRE.content_grace_hours)
    assert kept > ACCEPTED + timedelta(hours=FR_LRE.download_hours)


def test_never_accepted_the_content_stays_until_the_window_closes_plus_the_grace() -> None:
    assert FR_LRE.content_kept_until(
        window_closes_at=CLOSES, accepted_at=None, receipt_signed_at=None
    ) == CLOSES + timedelta(hours=24)


def test_accepted_with_no_known_notice_the_latest_window_its_acceptance_allows_is_kept() -> None:
    # Accepted on 6 March (Paris): a notice could not be later, so its window closes by
    # midnight after 21 March at the latest.
    kept = FR_LRE.content_kept_until(window_closes_at=None, accepted_at=ACCEPTED, receipt_signed_at=None)

    assert kept == datetime(2026, 3, 21, 23, 0, tzinfo=UTC) + timedelta(hours=24)


def test_no_window_and_no_decision_schedules_nothing() -> None:
    assert FR_LRE.content_kept_until(window_closes_at=None, accepted_at=None, receipt_signed_at=None) is None


def test_the_longest_content_life_covers_a_signature_at_the_grace_s_last_instant() -> None:
    notice = datetime(2026, 3, 28, 22, 59, tzinfo=UTC)  # the eve of summer time, in Paris
    closes = FR_LRE.window_closes_at(FR_LRE.acceptance_deadline(notice))
    signed = closes + timedelta(hours=FR_LRE.content_grace_hours)

    assert FR_LRE.download_window_ends_at(signed) <= notice + FR_LRE.longest_content_life()
