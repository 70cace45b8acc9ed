"""Identity matching: what the visitor types against what the sender declared."""

from __future__ import annotations

import pytest

from pickup.domain.identity import incomplete_fields, mismatched_fields, normalise

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


# Letters of every script, and nothing matched on an empty remainder


def test_names_in_chinese_characters_must_be_the_declared_ones() -> None:
    declared = typed(last_name="王", first_name="小明")

    assert mismatched_fields(declared, typed(last_name="李", first_name="大伟")) == [
        "last_name",
        "first_name",
    ]
    assert mismatched_fields(declared, typed(last_name="王", first_name="小明")) == []


@pytest.mark.parametrize(
    ("declared", "other"),
    [("Пётр", "Иван"), ("Ελένη", "Σοφία"), ("ليلى", "سارة"), ("דוד", "משה"), ("さくら", "はなこ")],
)
def test_letters_of_any_script_are_compared_never_dropped(declared: str, other: str) -> None:
    assert mismatched_fields(typed(first_name=declared), typed(first_name=other)) == ["first_name"]
    assert mismatched_fields(typed(first_name=declared), typed(first_name=declared)) == []


def test_diacritics_of_other_scripts_do_not_matter() -> None:
    assert normalise("Пётр") == normalise("ПЕТР")
    assert normalise("Ελένη") == normalise("ΕΛΕΝΗ")
    assert normalise("لَيْلَى") == normalise("ليلى")


def test_a_declared_field_without_letters_or_digits_is_matched_by_nothing() -> None:
    declared = typed(last_name="-", first_name="-")

    assert mismatched_fields(declared, typed(last_name="-", first_name="-")) == ["last_name", "first_name"]
    assert mismatched_fields(declared, typed(last_name="", first_name="")) == ["last_name", "first_name"]
    assert mismatched_fields(declared, typed(last_name="?", first_name="#")) == ["last_name", "first_name"]


def test_a_declared_company_without_letters_or_digits_is_matched_by_nothing() -> None:
    declared = typed(company="—")

    assert mismatched_fields(declared, typed(company="—")) == ["company"]
    assert mismatched_fields(declared, typed(company="")) == ["company"]


def test_letters_without_an_accent_to_strip_match_their_usual_spelling() -> None:
    declared = typed(first_name="Søren", last_name="Łukasiewicz")

    assert mismatched_fields(declared, typed(first_name="Soren", last_name="Lukasiewicz")) == []


def test_a_letter_replaced_by_a_symbol_is_a_mismatch() -> None:
    declared = typed(first_name="Søren", last_name="Łukasiewicz")

    assert mismatched_fields(declared, typed(first_name="S#ren", last_name="?ukasiewicz")) == [
        "last_name",
        "first_name",
    ]


@pytest.mark.parametrize(
    ("declared", "typed_value"),
    [
        ("Bjørn Ærø", "Bjorn Aero"),
        ("Łódź", "Lodz"),
        ("Strauß", "Strauss"),
        ("Œdipe", "Oedipe"),
        ("Đorđević", "Dordevic"),
        ("Þórr Guðmundsson", "Thorr Gudmundsson"),
        ("Işıl", "Isil"),
        ("İnönü", "Inonu"),
        ("Ｍａｒｔｉｎ", "Martin"),
    ],
)
def test_letters_are_compared_as_keyboards_without_them_type_them(declared: str, typed_value: str) -> None:
    assert normalise(declared) == normalise(typed_value)


def test_invisible_characters_do_not_matter() -> None:
    assert mismatched_fields(DECLARED, typed(last_name="Mar\u00adtin", first_name="H\u200belène")) == []


# Careless typing


@pytest.mark.parametrize("postcode", ["75 001", " 75001 ", "75-001", "７５００１"])
def test_spaces_in_a_postcode_do_not_matter(postcode: str) -> None:
    assert mismatched_fields(DECLARED, typed(postcode=postcode)) == []


@pytest.mark.parametrize(
    ("declared", "typed_value"),
    [
        ("Exemple SARL", "Exemple s.a.r.l."),
        ("Exemple S.A.R.L.", "EXEMPLE SARL"),
        ("Société Exemple SAS", "Société Exemple S.A.S."),
        ("Exemple S.A.", "exemple SA"),
    ],
)
def test_dotted_initials_match_the_same_letters_undotted(declared: str, typed_value: str) -> None:
    assert mismatched_fields(typed(company=declared), typed(company=typed_value)) == []


def test_scripts_without_spaces_match_however_they_are_spaced() -> None:
    assert mismatched_fields(typed(first_name="小明"), typed(first_name="小 明")) == []


def test_an_optional_company_left_without_letters_matches_when_none_was_declared() -> None:
    assert mismatched_fields(typed(company=None), typed(company="-")) == []


def test_a_company_typed_where_none_was_declared_is_a_mismatch() -> None:
    assert mismatched_fields(typed(company=None), typed(company="Exemple SAS")) == ["company"]


# What the form asks for again instead of judging


def test_a_complete_form_is_judged() -> None:
    assert incomplete_fields(typed(company="")) == []


@pytest.mark.parametrize("empty", ["", "   ", "-", "?", "#", "..."])
def test_a_required_field_without_letters_or_digits_makes_the_form_incomplete(empty: str) -> None:
    assert incomplete_fields(typed(last_name=empty, city=empty)) == ["last_name", "city"]


def test_an_empty_company_never_makes_the_form_incomplete() -> None:
    assert incomplete_fields(typed(company="-")) == []
    assert incomplete_fields({k: v for k, v in DECLARED.items() if k != "company"}) == []
