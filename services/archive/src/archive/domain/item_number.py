"""Item numbers (numéro de pli): 11 random digits from a CSPRNG plus a Luhn check digit.

Random, never sequential, so a number says nothing about the letters around it and
cannot be guessed from another; the check digit catches most typing errors before
the pickup site even looks the number up.
"""

from __future__ import annotations

import secrets

LENGTH = 12


def luhn_check_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # every second digit from the right, the check digit's neighbour first
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_item_number() -> str:
    body = "".join(str(secrets.randbelow(10)) for _ in range(LENGTH - 1))
    return body + luhn_check_digit(body)


def is_valid_item_number(candidate: str) -> bool:
    return (
        len(candidate) == LENGTH
        and candidate.isascii()
        and candidate.isdigit()
        and luhn_check_digit(candidate[:-1]) == candidate[-1]
    )
