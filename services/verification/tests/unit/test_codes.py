"""The one-time code rules on their own (DESIGN §2 step 5): drawing, keeping only an HMAC
bound to the letter, expiry, single use, lockout after wrong tries, throttling of new codes,
and reading what a person types."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lre_shared.contracts import CodeProblem
from verification.domain import codes
from verification.domain.codes import CodeRules, StoredCode, Verdict

KEY = b"k" * 32
RULES = CodeRules()
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def issued(code: str = "04711234", at: datetime = T0, key: bytes = KEY) -> StoredCode:
    letter_id, code_id = uuid.uuid4(), uuid.uuid4()
    return StoredCode(
        code_id=code_id,
        letter_id=letter_id,
        code_hmac=codes.code_mac(key, letter_id, code_id, code),
        issued_at=at,
        expires_at=codes.expires_at(at, RULES),
    )


def verdict(stored: StoredCode | None, typed: str, now: datetime = T0) -> Verdict:
    return codes.check(KEY, stored, typed, now, RULES)


# ---------------------------------------------------------------------------- drawing


@pytest.mark.parametrize("digits", [6, 7, 8])
def test_a_code_has_exactly_the_configured_number_of_ascii_digits(digits: int) -> None:
    for _ in range(200):
        code = codes.new_code(digits)
        assert len(code) == digits
        assert code.isascii() and code.isdigit()


def test_codes_are_uniform_over_digits_and_keep_leading_zeros() -> None:
    drawn = [codes.new_code(6) for _ in range(20_000)]
    # 120 000 digits, 12 000 expected per value: a fair die stays well within ±6 %.
    counts = Counter("".join(drawn))
    assert set(counts) == set("0123456789")
    assert all(abs(n - 12_000) < 720 for n in counts.values()), counts
    # Each position on its own too (a bug padding or trimming shows on the first one).
    first = Counter(code[0] for code in drawn)
    assert all(abs(n - 2_000) < 300 for n in first.values()), first
    assert len(set(drawn)) > 19_000  # 10^6 possible codes: few collisions, never a fixed value


# ------------------------------------------------------------------------- keeping it


def test_the_stored_value_is_an_hmac_not_the_code() -> None:
    stored = issued("00001234")
    assert len(stored.code_hmac) == 32
    assert b"00001234" not in stored.code_hmac
    assert stored.code_hmac.hex().find("00001234") == -1


def test_a_stored_value_is_bound_to_its_letter_and_its_code_id() -> None:
    stored = issued("12345678")
    other_letter = replace(stored, letter_id=uuid.uuid4())
    other_code = replace(stored, code_id=uuid.uuid4())

    assert codes.matches(KEY, stored, "12345678")
    assert not codes.matches(KEY, other_letter, "12345678")  # the row copied onto another letter
    assert not codes.matches(KEY, other_code, "12345678")


def test_a_stored_value_is_worthless_without_the_server_key() -> None:
    stored = issued("12345678", key=b"another server key of 32+ bytes!")
    assert not codes.matches(KEY, stored, "12345678")


# ------------------------------------------------------------------------ typed input


@pytest.mark.parametrize(
    "typed",
    [
        "12345678",
        "1234 5678",
        " 1234-5678 ",
        "12 34 56 78",
        "1234\u00a05678",  # non-breaking space pasted from an email
        "1234\u20135678",  # en dash
        "1234\u22125678",  # minus sign
        "１２３４５６７８",  # full-width digits from a Japanese keyboard
        "1234\t5678\n",
        "1234\u200b5678",  # zero-width space
    ],
)
def test_spaces_and_dashes_in_what_is_typed_do_not_matter(typed: str) -> None:
    assert codes.normalise(typed) == "12345678"
    assert verdict(issued("12345678"), typed).valid


@pytest.mark.parametrize("typed", ["", "1234567", "123456789", "12345679", "abcdefgh", "1234567O"])
def test_anything_else_is_a_wrong_code(typed: str) -> None:
    assert verdict(issued("12345678"), typed) == Verdict(CodeProblem.wrong, RULES.max_tries - 1)


# ----------------------------------------------------------------------------- expiry


def test_a_code_is_valid_until_just_before_its_ttl_and_expired_at_it() -> None:
    stored = issued("12345678")
    assert stored.expires_at == T0 + timedelta(minutes=10)

    assert verdict(stored, "12345678", T0 + timedelta(minutes=10) - timedelta(microseconds=1)).valid
    assert verdict(stored, "12345678", T0 + timedelta(minutes=10)) == Verdict(CodeProblem.expired)
    assert verdict(stored, "00000000", T0 + timedelta(hours=3)) == Verdict(CodeProblem.expired)


# ---------------------------------------------------------------------- single use, tries


def test_a_used_code_is_refused_even_when_right() -> None:
    stored = replace(issued("12345678"), used_at=T0 + timedelta(minutes=1))
    assert verdict(stored, "12345678", T0 + timedelta(minutes=2)) == Verdict(CodeProblem.used)


def test_each_wrong_try_lowers_the_tries_left_down_to_none_at_the_fifth() -> None:
    assert [codes.after_wrong_try(n, RULES) for n in range(1, 6)] == [
        Verdict(CodeProblem.wrong, 4),
        Verdict(CodeProblem.wrong, 3),
        Verdict(CodeProblem.wrong, 2),
        Verdict(CodeProblem.wrong, 1),
        Verdict(CodeProblem.wrong, 0),
    ]


def test_a_locked_code_is_refused_even_when_right() -> None:
    locked = replace(issued("12345678"), tries=5, invalidated_at=T0)
    assert verdict(locked, "12345678") == Verdict(CodeProblem.locked, 0)
    # The count alone locks it too, whatever set it.
    assert verdict(replace(issued("12345678"), tries=5), "12345678") == Verdict(CodeProblem.locked, 0)


def test_four_wrong_tries_still_let_the_right_code_through() -> None:
    assert verdict(replace(issued("12345678"), tries=4), "12345678").valid


def test_no_code_for_the_letter_says_none_was_issued() -> None:
    assert verdict(None, "12345678") == Verdict(CodeProblem.none_issued)


def test_a_used_code_reads_as_used_before_locked_or_expired() -> None:
    stored = replace(issued("12345678"), used_at=T0, tries=5)
    assert codes.standing_problem(stored, T0 + timedelta(days=1), RULES) is CodeProblem.used


# ------------------------------------------------------------------------- throttling


def test_the_first_code_is_never_throttled() -> None:
    assert codes.retry_after([], T0, RULES) is None


def test_a_new_code_waits_for_the_least_interval_after_the_last_one() -> None:
    assert codes.retry_after([T0], T0 + timedelta(seconds=1), RULES) == 59
    assert codes.retry_after([T0], T0 + timedelta(seconds=59, milliseconds=500), RULES) == 1
    assert codes.retry_after([T0], T0 + timedelta(seconds=60), RULES) is None


def test_at_most_five_codes_in_any_hour() -> None:
    # Five codes, ten minutes apart: the sixth waits until the first is an hour old.
    five = [T0 + timedelta(minutes=10 * n) for n in range(5)]
    now = T0 + timedelta(minutes=45)
    assert codes.retry_after(five, now, RULES) == 15 * 60
    assert codes.retry_after(five, T0 + timedelta(hours=1), RULES) is None
    assert codes.retry_after(five[:4], now, RULES) is None


def test_the_hourly_limit_counts_only_the_last_hour() -> None:
    old = [T0 - timedelta(hours=2, minutes=n) for n in range(10)]
    assert codes.retry_after(old, T0, RULES) is None


def test_the_longer_of_both_waits_is_given() -> None:
    five = [T0 + timedelta(minutes=n) for n in range(5)]  # the last one a minute ago
    now = T0 + timedelta(minutes=5)
    assert codes.retry_after(five, now, RULES) == 55 * 60
    rules = replace(RULES, resend_interval=timedelta(hours=2))
    assert codes.retry_after(five, now, rules) == 2 * 3600 - 60


def test_a_code_invalidated_without_use_or_lockout_was_replaced() -> None:
    stored = issued("12345678")
    assert not codes.replaced(stored, RULES)
    assert codes.replaced(replace(stored, invalidated_at=T0, tries=2), RULES)
    assert not codes.replaced(replace(stored, invalidated_at=T0, tries=5), RULES)  # locked
    assert not codes.replaced(replace(stored, used_at=T0), RULES)
