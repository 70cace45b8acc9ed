"""The verification policies as an agent's checklist: `default` wants one identity document
valid today; `cnb` an identity document valid more than 6 more months, a company extract
whose SIREN/SIRET passes its check digit and this year's bar registration certificate."""

from __future__ import annotations

from datetime import date

import pytest

from verification.domain.policy import (
    ChecklistItem,
    DocumentKind,
    PolicyName,
    UnmetCode,
    UnmetRule,
    add_months,
    siren_or_siret_valid,
    unmet,
    unmet_rules,
)

TODAY = date(2026, 3, 2)


def identity(expiry: date | None) -> ChecklistItem:
    return ChecklistItem(kind=DocumentKind.identity, document_type="id_card", number="X1", expiry_date=expiry)


def extract(number: str) -> ChecklistItem:
    return ChecklistItem(kind=DocumentKind.company_extract, document_type="kbis", number=number)


def bar(issued: date | None) -> ChecklistItem:
    return ChecklistItem(
        kind=DocumentKind.bar_certificate, document_type="attestation", number="B1", issued_on=issued
    )


def test_default_is_met_by_one_identity_document_valid_today() -> None:
    assert unmet("default", [identity(TODAY)], TODAY) == []


@pytest.mark.parametrize(
    "items", [[], [identity(date(2026, 3, 1))], [identity(None)], [extract("732829320")]]
)
def test_default_is_not_met_without_an_identity_document_valid_today(items: list[ChecklistItem]) -> None:
    assert unmet("default", items, TODAY) == [
        "an identity document valid today (with its expiry date) is required"
    ]


def test_cnb_is_met_by_the_three_documents() -> None:
    items = [identity(date(2026, 9, 3)), extract("732 829 320"), bar(date(2026, 1, 5))]

    assert unmet("cnb", items, TODAY) == []


def test_cnb_wants_an_identity_document_valid_more_than_six_more_months() -> None:
    items = [identity(date(2026, 9, 2)), extract("73282932000074"), bar(date(2026, 1, 5))]

    assert unmet("cnb", items, TODAY) == [
        "an identity document valid after 2026-09-02 (more than 6 months) is required"
    ]


def test_cnb_wants_a_siren_or_siret_passing_its_check_digit() -> None:
    items = [identity(date(2030, 1, 1)), extract("732829321"), bar(date(2026, 1, 5))]

    assert unmet("cnb", items, TODAY) == ["the company extract's SIREN/SIRET number fails its check digit"]


def test_cnb_wants_this_years_bar_certificate() -> None:
    items = [identity(date(2030, 1, 1)), extract("732829320"), bar(date(2025, 12, 31))]

    assert unmet("cnb", items, TODAY) == ["a bar registration certificate issued in 2026 is required"]


def test_cnb_lists_everything_missing_at_once() -> None:
    assert len(unmet("cnb", [], TODAY)) == 3


# Each rule as a code and its parameters, for the console to word in the agent's language.
@pytest.mark.parametrize(
    ("policy", "items", "expected"),
    [
        ("default", [], [("identity_today", {})]),
        ("default", [identity(TODAY)], []),
        (
            "cnb",
            [identity(date(2026, 9, 2)), extract("732829320"), bar(date(2026, 1, 5))],
            [("identity_after", {"date": "2026-09-02"})],
        ),
        ("cnb", [identity(date(2030, 1, 1)), bar(date(2026, 1, 5))], [("company_extract", {})]),
        ("cnb", [identity(date(2030, 1, 1)), extract("732829321"), bar(date(2026, 1, 5))], [("siret", {})]),
        (
            "cnb",
            [identity(date(2030, 1, 1)), extract("732829320"), bar(date(2025, 12, 31))],
            [("bar_certificate", {"year": "2026"})],
        ),
        (
            "cnb",
            [],
            [
                ("identity_after", {"date": "2026-09-02"}),
                ("company_extract", {}),
                ("bar_certificate", {"year": "2026"}),
            ],
        ),
    ],
)
def test_unmet_rules_are_codes_with_their_parameters(
    policy: PolicyName, items: list[ChecklistItem], expected: list[tuple[str, dict[str, str]]]
) -> None:
    assert [(rule.code, rule.params) for rule in unmet_rules(policy, items, TODAY)] == expected


@pytest.mark.parametrize("policy", ["default", "cnb"])
@pytest.mark.parametrize(
    "items",
    [[], [identity(date(2026, 9, 2)), extract("732829321"), bar(date(2025, 1, 5))], [identity(TODAY)]],
)
def test_the_english_sentences_are_the_rules_texts_in_order(
    policy: PolicyName, items: list[ChecklistItem]
) -> None:
    assert unmet(policy, items, TODAY) == [rule.text for rule in unmet_rules(policy, items, TODAY)]


def test_every_code_has_its_english_sentence_with_its_parameters() -> None:
    texts = {
        UnmetRule.of(UnmetCode.identity_today).text,
        UnmetRule.of(UnmetCode.identity_after, date="2026-09-02").text,
        UnmetRule.of(UnmetCode.company_extract).text,
        UnmetRule.of(UnmetCode.siret).text,
        UnmetRule.of(UnmetCode.bar_certificate, year="2026").text,
    }
    assert texts == {
        "an identity document valid today (with its expiry date) is required",
        "an identity document valid after 2026-09-02 (more than 6 months) is required",
        "a company extract (Kbis) with its SIREN or SIRET number is required",
        "the company extract's SIREN/SIRET number fails its check digit",
        "a bar registration certificate issued in 2026 is required",
    }


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("732829320", True),  # SIREN
        ("73282932000074", True),  # SIRET of that SIREN
        ("732 829 320", True),
        ("732829321", False),
        ("73282932000075", False),
        ("35600000000048", True),  # La Poste's head office: passes Luhn
        ("35600000049837", True),  # a La Poste establishment: digit sum 45, a multiple of 5
        ("35600000000049", False),
        ("000000000", False),  # zeros pass Luhn but are no SIREN
        ("00000000000000", False),
        ("7328293200007", False),  # 13 digits
        ("732829320000740", False),  # 15 digits
        ("73282932O00074", False),  # a letter O
        ("12345678", False),
        ("７３２８２９３２０", False),  # full-width digits are not digits of a SIREN
        ("", False),
    ],
)
def test_siren_and_siret_check_digits(number: str, valid: bool) -> None:
    assert siren_or_siret_valid(number) is valid


def test_six_months_after_the_end_of_august_is_the_end_of_february() -> None:
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
