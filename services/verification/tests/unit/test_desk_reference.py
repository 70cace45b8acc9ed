"""The one case reference a message names: the subject's, else the text's; several refused;
found with bounded work whatever the text holds."""

from __future__ import annotations

import time

import pytest

from verification.domain.reference import SCAN_CHARS, SeveralReferences, find_references, named_reference


def test_the_subject_names_the_case_before_the_text() -> None:
    assert named_reference("Re: LRE-7K3M9Q", "> votre dossier LRE-ABCDEF") == "LRE-7K3M9Q"
    assert named_reference("Mes papiers", "dossier lre 7k3m9q, encore LRE-7K3M9Q") == "LRE-7K3M9Q"
    assert named_reference("Mes papiers", "sans référence") is None


@pytest.mark.parametrize(
    ("subject", "text"), [("LRE-7K3M9Q LRE-ABCDEF", ""), ("Mes papiers", "LRE-7K3M9Q puis LRE-ABCDEF")]
)
def test_a_message_naming_two_cases_names_none(subject: str, text: str) -> None:
    with pytest.raises(SeveralReferences):
        named_reference(subject, text)


def test_only_the_start_of_a_long_text_is_read() -> None:
    text = "x" * SCAN_CHARS + " LRE-7K3M9Q"

    assert find_references(text) == []


def test_a_text_full_of_references_is_read_in_bounded_time() -> None:
    text = " ".join(f"LRE-{n:06d}".translate(str.maketrans("0123456789", "23456789AB")) for n in range(10**6))
    started = time.perf_counter()

    found = find_references(text, limit=10**6)

    assert len(found) <= 1000 and time.perf_counter() - started < 0.5
