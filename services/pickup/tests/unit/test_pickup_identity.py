"""Identity matching: what the visitor types against what the sender declared."""

from __future__ import annotations

import pytest

from pickup.domain.identity import mismatched_fields, normalise

DECLARED = {
    "company": "Société Exemple SAS",
    "last_name": "Martin",
    "first_name": "Hélène",
    "address": "15, Av. de l'Opéra",
    "postcode": "75001",
    "city": "Paris",
}


def typed(**changes: str | None) -> dict[str, str | None]:
    return {**DECLARED, **changes}


def test_the_declared_identity_matches_itself() -> None:
    assert mismatched_fields(DECLARED, DECLARED) == []


def test_case_does_not_matter() -> None:
    assert mismatched_fields(DECLARED, typed(last_name="MARTIN", city="paris")) == []


def test_accents_do_not_matter() -> None:
    assert mismatched_fields(DECLARED, typed(first_name="Helene", company="Societe Exemple SAS")) == []


def test_spacing_does_not_matter() -> None:
    assert mismatched_fields(DECLARED, typed(first_name="  Hélène ", city=" Paris\t")) == []


def test_punctuation_does_not_matter() -> None:
    declared = typed(first_name="Jean-Pierre", last_name="O'Neil")

    assert mismatched_fields(declared, typed(first_name="jean pierre", last_name="o neil")) == []


def test_hyphens_and_apostrophes_are_word_breaks() -> None:
    assert normalise("Jean-Pierre O'Neil") == normalise("jean pierre o neil")


@pytest.mark.parametrize(
    ("declared", "typed_value"),
    [
        ("15, Av. de l'Opéra", "15 avenue de l opera"),
        ("15 avenue de l'Opéra", "15 av de l'opera"),
        ("3 r. de la Paix", "3 rue de la paix"),
        ("3 rue de la Paix", "3 R. de la Paix"),
        ("12 bd Haussmann", "12 boulevard haussmann"),
        ("12 boulevard Haussmann", "12 Bd. Haussmann"),
    ],
)
def test_common_address_abbreviations_do_not_matter(declared: str, typed_value: str) -> None:
    assert mismatched_fields(typed(address=declared), typed(address=typed_value)) == []


def test_a_different_last_name_is_reported_by_field_name() -> None:
    assert mismatched_fields(DECLARED, typed(last_name="Martine")) == ["last_name"]


def test_a_different_postcode_is_reported_by_field_name() -> None:
    assert mismatched_fields(DECLARED, typed(postcode="75002")) == ["postcode"]


def test_several_differences_are_all_reported_in_field_order() -> None:
    assert mismatched_fields(DECLARED, typed(postcode="75002", last_name="Durand")) == [
        "last_name",
        "postcode",
    ]


def test_a_missing_typed_field_is_a_mismatch() -> None:
    incomplete = {k: v for k, v in DECLARED.items() if k != "city"}

    assert mismatched_fields(DECLARED, incomplete) == ["city"]


def test_the_report_never_says_how_a_field_differs() -> None:
    result = mismatched_fields(DECLARED, typed(last_name="Durand"))

    assert all(isinstance(name, str) and "Durand" not in name and "Martin" not in name for name in result)


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_an_empty_optional_company_matches_an_absent_company(empty: str | None) -> None:
    declared = typed(company=empty)
    absent = {k: v for k, v in DECLARED.items() if k != "company"}

    assert mismatched_fields(declared, absent) == []
    assert mismatched_fields(absent, declared) == []


def test_a_declared_company_left_blank_by_the_visitor_is_a_mismatch() -> None:
    assert mismatched_fields(DECLARED, typed(company="")) == ["company"]


def test_the_oe_ligature_matches_o_e() -> None:
    assert (
        mismatched_fields(typed(address="5 rue du Sacré-Cœur"), typed(address="5 rue du Sacre-Coeur")) == []
    )
