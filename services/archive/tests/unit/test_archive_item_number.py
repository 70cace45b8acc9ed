"""Item numbers: 11 random digits and a Luhn check digit."""

from __future__ import annotations

import random
from itertools import pairwise, product

import pytest

from archive.domain.item_number import LENGTH, is_valid_item_number, luhn_check_digit, new_item_number

DIGITS = "0123456789"


def valid_number_with(fixed: dict[int, str]) -> str:
    """A valid item number holding the `fixed` digits at their positions (others free)."""
    digits = ["0"] * LENGTH
    for position, digit in fixed.items():
        digits[position] = digit
    free = next(p for p in range(LENGTH) if p not in fixed)
    for digit in DIGITS:
        digits[free] = digit
        candidate = "".join(digits)
        if is_valid_item_number(candidate):
            return candidate
    raise AssertionError(f"no valid number holds {fixed}")


def sample_valid_numbers(count: int) -> list[str]:
    rng = random.Random(20250301)
    bodies = ("".join(rng.choice(DIGITS) for _ in range(LENGTH - 1)) for _ in range(count))
    return [body + luhn_check_digit(body) for body in bodies]


def swap(number: str, position: int) -> str:
    chars = list(number)
    chars[position], chars[position + 1] = chars[position + 1], chars[position]
    return "".join(chars)


def test_luhn_check_digit_matches_the_textbook_example() -> None:
    assert luhn_check_digit("7992739871") == "3"


def test_a_new_item_number_is_twelve_ascii_digits() -> None:
    number = new_item_number()

    assert len(number) == 12
    assert number.isascii()
    assert number.isdigit()


def test_a_new_item_number_has_a_valid_check_digit() -> None:
    number = new_item_number()

    assert luhn_check_digit(number[:-1]) == number[-1]
    assert is_valid_item_number(number)


def test_a_thousand_draws_are_all_valid_and_distinct() -> None:
    numbers = [new_item_number() for _ in range(1000)]

    assert all(is_valid_item_number(n) for n in numbers)
    assert len(set(numbers)) == 1000


def test_a_thousand_draws_are_not_sequential() -> None:
    bodies = [int(new_item_number()[:-1]) for _ in range(1000)]

    steps = [b - a for a, b in pairwise(bodies)]

    assert not any(step in (1, -1) for step in steps)
    assert bodies != sorted(bodies)
    assert bodies != sorted(bodies, reverse=True)


def test_a_single_digit_typo_is_always_detected() -> None:
    for number in sample_valid_numbers(200):
        for position, digit in product(range(LENGTH), DIGITS):
            if digit == number[position]:
                continue
            typo = number[:position] + digit + number[position + 1 :]
            assert not is_valid_item_number(typo), (number, typo)


def test_every_adjacent_transposition_of_different_digits_is_detected_except_0_and_9() -> None:
    for position in range(LENGTH - 1):
        for a, b in product(DIGITS, DIGITS):
            if a == b or {a, b} == {"0", "9"}:
                continue
            number = valid_number_with({position: a, position + 1: b})
            assert not is_valid_item_number(swap(number, position)), (number, position)


def test_luhn_blind_spot_swapping_adjacent_0_and_9_goes_unnoticed() -> None:
    # Doubling maps 0 -> 0 and 9 -> 18 -> 9, so "09" and "90" weigh the same: Luhn's one
    # undetected adjacent transposition. Every other swap of different digits is caught.
    for position in range(LENGTH - 1):
        for a, b in (("0", "9"), ("9", "0")):
            number = valid_number_with({position: a, position + 1: b})
            assert is_valid_item_number(swap(number, position)), (number, position)


@pytest.mark.parametrize(
    "candidate",
    ["", "79927398713", "0799273987130", "7992739871x3", " 79927398713", "79927398713\n"],
    ids=["empty", "11-digits", "13-digits", "letter", "leading-space", "trailing-newline"],
)
def test_a_candidate_that_is_not_twelve_digits_is_invalid(candidate: str) -> None:
    assert not is_valid_item_number(candidate)


def test_non_ascii_digits_are_invalid() -> None:
    number = new_item_number()
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in number)

    assert not is_valid_item_number(arabic_indic)


def test_a_wrong_check_digit_is_invalid() -> None:
    number = new_item_number()
    wrong = str((int(number[-1]) + 1) % 10)

    assert not is_valid_item_number(number[:-1] + wrong)
