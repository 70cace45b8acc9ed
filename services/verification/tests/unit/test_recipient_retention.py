"""How long the desk keeps a letter's recipient details (GDPR art. 5(1)(e)): while the letter
can still need it (its acceptance and download windows, CPCE R.53-3) plus the documents'
retention once its cases are decided, and no longer than the longest delay in any case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lre_shared.rules import FR_LRE
from verification.domain.cases import RecipientRetention

KNOWN_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LIFE = FR_LRE.longest_content_life()
RULE = RecipientRetention(LIFE, retention=timedelta(days=7), longest=timedelta(days=30))
MINUTE = timedelta(minutes=1)


def test_the_french_content_life_covers_the_fifteen_day_window_its_grace_and_the_download() -> None:
    assert FR_LRE.acceptance_days == 15
    assert timedelta(days=16, hours=1) + timedelta(hours=24 + 48) == LIFE


def test_a_decided_letter_keeps_its_recipient_until_its_content_life_and_the_retention_are_over() -> None:
    due = KNOWN_AT + LIFE + timedelta(days=7)

    assert not RULE.forgotten(KNOWN_AT, undecided=False, now=due - MINUTE)
    assert RULE.forgotten(KNOWN_AT, undecided=False, now=due + MINUTE)


def test_a_letter_with_an_undecided_case_keeps_its_recipient_until_the_longest_delay() -> None:
    due = KNOWN_AT + LIFE + timedelta(days=30)

    assert not RULE.forgotten(KNOWN_AT, undecided=True, now=KNOWN_AT + LIFE + timedelta(days=8))
    assert not RULE.forgotten(KNOWN_AT, undecided=True, now=due - MINUTE)
    assert RULE.forgotten(KNOWN_AT, undecided=True, now=due + MINUTE)


def test_the_cutoffs_handed_to_the_store_are_the_same_rule() -> None:
    now = KNOWN_AT + timedelta(days=60)

    assert RULE.decided_before(now) == now - LIFE - timedelta(days=7)
    assert RULE.known_before(now) == now - LIFE - timedelta(days=30)
