"""Text every service can hold (`lre_shared.text`) and the reading of a few members of a JSON
object that does not parse as a whole (`lre_shared.jsonscan`)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from lre_shared.contracts import Recipient, SubmittedRecipient
from lre_shared.jsonscan import top_level_members
from lre_shared.text import REFUSED_CATEGORIES, text_fault

NAMES = ["Łukasz Dvořák", "Ørsted", "Nguyễn Thị Minh Khai", "王 小明", "Søren Łukasiewicz", "O'Brien-Smith"]


@pytest.mark.parametrize("name", NAMES)
def test_names_in_every_script_are_held_as_they_are(name: str) -> None:
    assert text_fault(name) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Dupont\x00", "a control character U+0000 at position 7"),
        ("Du\x1bpont", "a control character U+001B at position 3"),
        ("Dupont\x85", "a control character U+0085"),
        ("Cabinet \u202eeniluM", "bidirectional or zero-width) U+202E at position 9"),
        ("Pa\u2066ris", "U+2066"),
        ("Pa\u200bris", "U+200B"),
        ("\ufeffParis", "U+FEFF at position 1"),
        ("Paris\ud800", "a lone surrogate U+D800"),
        ("Paris\ue000", "a private-use character U+E000"),
        ("Paris\u2028", "a line separator"),
    ],
)
def test_text_no_service_can_hold_is_refused_naming_the_character_and_where(value: str, reason: str) -> None:
    fault = text_fault(value)
    assert fault is not None and reason in fault


def test_the_first_offending_character_is_named() -> None:
    assert text_fault("a\u200bb\x00") == (
        "contains an invisible formatting character (bidirectional or zero-width) U+200B at position 2;"
        " remove it"
    )


def test_lengths_are_counted_in_characters_and_in_utf8_bytes() -> None:
    assert text_fault("é" * 100, max_chars=100) is None
    assert text_fault("é" * 101, max_chars=100) == "longer than 100 characters"
    assert text_fault("é" * 127 + "a", max_bytes=255) is None
    assert text_fault("é" * 128, max_bytes=255) == "longer than 255 bytes in UTF-8 (256 bytes)"


@given(st.text(st.characters(blacklist_categories=tuple(REFUSED_CATEGORIES)), max_size=50))
def test_text_without_refused_characters_is_held(value: str) -> None:
    assert text_fault(value) is None


@given(
    st.text(max_size=20),
    st.characters(whitelist_categories=tuple(REFUSED_CATEGORIES)),
    st.text(max_size=20),
)
def test_one_refused_character_anywhere_is_refused(before: str, bad: str, after: str) -> None:
    assert text_fault(before + bad + after) is not None


def test_a_recipient_the_archive_accepted_cannot_hold_a_nul_even_built_in_code() -> None:
    fields = {
        "last_name": "Dupont",
        "first_name": "Jeanne",
        "address": "1 rue de la Paix",
        "postcode": "75002",
        "city": "Paris",
        "email": "jeanne@example.fr",
    }
    with pytest.raises(ValidationError, match="U\\+0000"):
        Recipient(**{**fields, "last_name": "Du\x00pont"})
    with pytest.raises(ValidationError, match="U\\+202E"):
        SubmittedRecipient.model_validate_json(json.dumps({**fields, "city": "Pa\u202eris"}))


# --------------------------------------------------------------------------- jsonscan


def test_members_before_and_after_a_value_nested_too_deep_are_read() -> None:
    body = (
        b'{"correlation_id": "c1", "note": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b', "sender": {"id": "acme", "name": "a:b,}\\""}}'
    )
    assert top_level_members(body, ("correlation_id", "sender")) == {
        "correlation_id": "c1",
        "sender": {"id": "acme", "name": 'a:b,}"'},
    }


def test_a_member_that_is_itself_nested_too_deep_is_left_out() -> None:
    body = b'{"sender": ' + b"[" * 5000 + b"]" * 5000 + b', "correlation_id": "c1"}'
    assert top_level_members(body, ("sender", "correlation_id")) == {"correlation_id": "c1"}


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"not json", b"", b'{"correlation_id": "c1"'])
def test_what_is_not_a_whole_object_gives_nothing_or_what_ended(body: bytes) -> None:
    assert top_level_members(body, ("correlation_id",)) == {}


def test_members_not_asked_for_are_not_decoded() -> None:
    assert top_level_members(b'{"a": 1, "b": {"c": [1, {"d": 2}]}, "z": "q"}', ("z",)) == {"z": "q"}
