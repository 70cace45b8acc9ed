"""SIREN and SIRET numbers (INSEE's company and establishment identifiers), checked once.

- A SIREN is 9 digits whose last is a Luhn check digit.
- A SIRET is the SIREN followed by a 5-digit establishment number (NIC), 14 digits, the whole
  passing Luhn again.
- La Poste's establishments all share SIREN 356000000 (which passes Luhn) and are too many
  for Luhn's NIC range: INSEE numbers them so that the sum of the 14 digits is a multiple of
  5 instead. The head office, 35600000000048, was numbered before and passes Luhn.
- No real number is all zeros, though zeros pass Luhn: refused.

Only ASCII digits count (a full-width "３" is no digit of a SIREN); spaces and dots, as
people write these numbers (`732 829 320 00074`), are ignored by `compact`.
"""

from __future__ import annotations

LA_POSTE_SIREN = "356000000"


def compact(number: str) -> str:
    """The number without the spaces and dots people group its digits with."""
    return number.replace(" ", "").replace(".", "")


def luhn_valid(digits: str) -> bool:
    """Luhn's check over ASCII digits: every second digit from the right doubled."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _digits(number: str, length: int) -> bool:
    return len(number) == length and number.isascii() and number.isdigit() and number.strip("0") != ""


def siren_valid(number: str) -> bool:
    """9 ASCII digits, not all zeros, passing Luhn (spaces and dots ignored)."""
    siren = compact(number)
    return _digits(siren, 9) and luhn_valid(siren)


def siret_valid(number: str) -> bool:
    """14 ASCII digits, not all zeros, whose SIREN is valid and which pass Luhn, or, for La
    Poste's establishments, whose digits sum to a multiple of 5 (spaces and dots ignored)."""
    siret = compact(number)
    if not _digits(siret, 14) or not siren_valid(siret[:9]):
        return False
    if siret.startswith(LA_POSTE_SIREN) and sum(map(int, siret)) % 5 == 0:
        return True
    return luhn_valid(siret)


def siren_or_siret_valid(number: str) -> bool:
    """A valid SIREN (9 digits) or SIRET (14 digits); any other length is refused."""
    return siren_valid(number) or siret_valid(number)
