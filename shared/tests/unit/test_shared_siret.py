"""SIREN and SIRET numbers: Luhn's check digit, La Poste's exception, malformed numbers refused.

The examples are real: 732 829 320 is L'Oréal's SIREN, 35600000000048 La Poste's head office,
35600000049837 one of La Poste's establishments (digits summing to 45).
"""

from __future__ import annotations

import pytest

from lre_shared.siret import LA_POSTE_SIREN, siren_or_siret_valid, siren_valid, siret_valid


def test_an_ordinary_siret_passing_luhn_is_valid() -> None:
    assert siret_valid("73282932000074")
    assert siret_valid("732 829 320 00074")  # as people write it


def test_an_ordinary_siret_with_a_wrong_check_digit_is_refused() -> None:
    assert not siret_valid("73282932000075")


def test_la_poste_s_siren_itself_passes_luhn() -> None:
    assert siren_valid(LA_POSTE_SIREN)


def test_la_poste_s_head_office_passes_luhn() -> None:
    assert sum(map(int, "35600000000048")) == 26  # not a multiple of 5: Luhn makes it valid
    assert siret_valid("35600000000048")


def test_a_la_poste_establishment_is_valid_by_its_digit_sum_though_it_fails_luhn() -> None:
    assert sum(map(int, "35600000049837")) == 45
    assert siret_valid("35600000049837")
    assert siret_valid("35600000000056")  # digits summing to 25


def test_a_la_poste_siret_neither_passing_luhn_nor_summing_to_a_multiple_of_5_is_refused() -> None:
    assert sum(map(int, "35600000049838")) == 46
    assert not siret_valid("35600000049838")
    assert not siret_valid("35600000012345")


def test_the_digit_sum_exception_is_la_poste_s_only() -> None:
    # Sums to 40 and fails Luhn: it would be valid only under SIREN 356000000.
    assert sum(map(int, "73282932000004")) == 40
    assert not siret_valid("73282932000004")


@pytest.mark.parametrize("number", ["00000000000000", "000000000", "000 000 000 00000"])
def test_all_zeros_are_refused_though_they_pass_luhn(number: str) -> None:
    assert not siren_or_siret_valid(number)
    assert not siret_valid(number)


@pytest.mark.parametrize(
    "number",
    [
        "7328293200007",  # 13 digits
        "732829320000740",  # 15 digits
        "7328293200007A",  # a letter
        "ABCDEFGHIJKLMN",
        "73282932000-74",
        "７３２８２９３２０００７４",  # full-width digits
        "",
    ],
)
def test_malformed_sirets_are_refused(number: str) -> None:
    assert not siret_valid(number)
    assert not siren_or_siret_valid(number)


def test_a_siret_whose_siren_fails_its_own_check_digit_is_refused() -> None:
    # The 14 digits pass Luhn, the first 9 do not.
    assert not siren_valid("732829321")
    assert not siret_valid("73282932100007")


@pytest.mark.parametrize(
    ("number", "valid"),
    [("732829320", True), ("732829321", False), ("73282932000074", True), ("35600000049837", True)],
)
def test_siren_or_siret_takes_either_length(number: str, valid: bool) -> None:
    assert siren_or_siret_valid(number) is valid
