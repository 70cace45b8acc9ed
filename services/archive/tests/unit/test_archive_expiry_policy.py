"""When a letter's content goes: the retention policy's instants, from the rules profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from archive.domain.expiry import RetentionPolicy
from archive.settings import ArchiveSettings
from lre_shared.rules import FR_LRE


def test_the_content_goes_the_profile_s_48_hours_after_the_signature_not_the_acceptance() -> None:
    accepted = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)
    signed = accepted + timedelta(days=3)

    assert RetentionPolicy(FR_LRE).content_expires_at(
        window_closes_at=None, accepted_at=accepted, receipt_signed_at=signed
    ) == signed + timedelta(hours=FR_LRE.download_hours)


REQUIRED = {
    "amqp_url": "amqp://guest:guest@127.0.0.1/",
    "database_url": "postgresql://postgres@127.0.0.1/archive",
    "s3_endpoint": "http://127.0.0.1:8333",
    "s3_access_key": "k",
    "s3_secret_key": "s",
    "zip_link_key": "z" * 32,
    "webhook_secrets_key": "w" * 32,
}


def settings(**values: object) -> ArchiveSettings:
    return ArchiveSettings.model_validate({**REQUIRED, **values})


def test_the_deployment_s_hours_replace_the_profile_s() -> None:
    policy = RetentionPolicy(settings(download_hours=36, unaccepted_grace_hours=12).rules())
    closes = datetime(2026, 3, 17, 23, 0, tzinfo=UTC)
    signed = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)

    assert policy.content_expires_at(
        window_closes_at=closes, accepted_at=None, receipt_signed_at=None
    ) == closes + timedelta(hours=12)
    assert policy.content_expires_at(
        window_closes_at=closes, accepted_at=signed, receipt_signed_at=signed
    ) == signed + timedelta(hours=36)


def test_the_acceptance_window_runs_15_days_from_the_day_after_the_first_notice_paris_time() -> None:
    # 2 March 2026, 23:30 Paris (22:30 UTC): the 15 days are 3 to 17 March; the window
    # closes at midnight Paris time after the 17th, 23:00 UTC (winter time).
    noticed = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)

    assert RetentionPolicy(FR_LRE).window_closes_at(noticed) == datetime(2026, 3, 17, 23, 0, tzinfo=UTC)


def test_a_notice_just_after_midnight_paris_counts_from_the_next_local_day() -> None:
    # 23:30 UTC on 2 March is already 3 March in Paris: the window runs 4 to 18 March.
    noticed = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)

    assert RetentionPolicy(FR_LRE).window_closes_at(noticed) == datetime(2026, 3, 18, 23, 0, tzinfo=UTC)


def test_content_of_a_letter_never_accepted_stays_for_the_grace_after_the_window() -> None:
    policy = RetentionPolicy(settings(unaccepted_grace_hours=36).rules())
    closes = datetime(2026, 3, 17, 23, 0, tzinfo=UTC)

    assert policy.content_expires_at(
        window_closes_at=closes, accepted_at=None, receipt_signed_at=None
    ) == closes + timedelta(hours=36)


@pytest.mark.parametrize(("days", "accepted"), [(364, False), (365, True), (3650, True)])
def test_evidence_is_retained_at_least_a_year_whatever_the_setting(days: int, accepted: bool) -> None:
    if accepted:
        assert settings(evidence_retention_days=days).rules().evidence_retention_days == days
    else:
        with pytest.raises(ValidationError, match="evidence_retention_days"):
            settings(evidence_retention_days=days)


def test_the_rules_profile_is_the_one_named_with_its_own_hours_and_retention_by_default() -> None:
    assert settings(rules_profile="fr_lre").rules() == FR_LRE


def test_an_unknown_rules_profile_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"unknown rules profile 'xx'.*fr_lre"):
        settings(rules_profile="xx")
