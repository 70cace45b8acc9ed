"""Message contracts: frozen, tolerant readers, UTC timestamps, base64 documents."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from lre_shared.contracts import (
    ALL_MESSAGES,
    Document,
    LetterDeposited,
    NoticeSent,
    Recipient,
    Reply,
    Sender,
    StoredDocument,
    SubmitLetter,
)

PARIS_SUMMER = timezone(timedelta(hours=2))


def sender() -> Sender:
    return Sender(id="s-1", name="Cabinet Exemple", email="greffe@cabinet.example")


def recipient() -> Recipient:
    return Recipient(
        last_name="Martin",
        first_name="Camille",
        address="12 avenue de l'Opera",
        postcode="75001",
        city="Paris",
        email="camille@exemple.example",
    )


def submit_letter(**overrides: object) -> SubmitLetter:
    fields: dict[str, object] = {
        "correlation_id": uuid4(),
        "sender": sender(),
        "recipient": recipient(),
        "main_document": Document(filename="lettre.pdf", content=b"%PDF-1.7 body"),
    }
    fields.update(overrides)
    return SubmitLetter.model_validate(fields)


def letter_deposited(item_number: str) -> LetterDeposited:
    return LetterDeposited(
        correlation_id=uuid4(),
        item_number=item_number,
        sender=sender(),
        recipient=recipient(),
        documents=(StoredDocument(document_id=uuid4(), filename="a.pdf", size=3, sha256="0" * 64),),
        verification_policy="default",
        deposited_at=datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
    )


def test_a_message_is_frozen() -> None:
    message = submit_letter()
    with pytest.raises(ValidationError):
        message.verification_policy = "cnb"  # type: ignore[misc]


def test_a_value_inside_a_message_is_frozen() -> None:
    message = submit_letter()
    with pytest.raises(ValidationError):
        message.sender.name = "Someone else"  # type: ignore[misc]


def test_unknown_fields_are_ignored_when_parsing() -> None:
    payload = json.loads(submit_letter().to_json())
    payload["added_in_a_later_minor_version"] = {"anything": 1}
    payload["recipient"]["middle_name"] = "Jean"

    parsed = SubmitLetter.model_validate_json(json.dumps(payload))

    assert "added_in_a_later_minor_version" not in parsed.model_dump()
    assert "middle_name" not in parsed.recipient.model_dump()


def test_occurred_at_is_converted_to_utc() -> None:
    local = datetime(2025, 7, 14, 12, 0, tzinfo=PARIS_SUMMER)

    message = submit_letter(occurred_at=local)

    assert message.occurred_at.utcoffset() == timedelta(0)
    assert message.occurred_at == datetime(2025, 7, 14, 10, 0, tzinfo=UTC)


def test_occurred_at_in_json_with_an_offset_is_read_as_utc() -> None:
    payload = json.loads(submit_letter().to_json())
    payload["occurred_at"] = "2025-07-14T12:00:00+02:00"

    parsed = SubmitLetter.model_validate_json(json.dumps(payload))

    assert parsed.occurred_at == datetime(2025, 7, 14, 10, 0, tzinfo=UTC)
    assert parsed.occurred_at.utcoffset() == timedelta(0)


def test_a_naive_occurred_at_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        submit_letter(occurred_at=datetime(2025, 7, 14, 12, 0))


def test_a_naive_timestamp_in_json_is_refused() -> None:
    payload = json.loads(submit_letter().to_json())
    payload["occurred_at"] = "2025-07-14T12:00:00"

    with pytest.raises(ValidationError, match="time zone"):
        SubmitLetter.model_validate_json(json.dumps(payload))


def test_occurred_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    message = submit_letter()
    after = datetime.now(UTC)

    assert before <= message.occurred_at <= after
    assert message.occurred_at.utcoffset() == timedelta(0)


def test_message_id_defaults_to_a_fresh_uuid_per_message() -> None:
    first, second = submit_letter(), submit_letter()

    assert isinstance(first.message_id, UUID)
    assert first.message_id != second.message_id


def test_message_id_survives_a_json_round_trip() -> None:
    message = submit_letter()

    assert SubmitLetter.model_validate_json(message.to_json()).message_id == message.message_id


def test_document_content_is_base64_in_json() -> None:
    content = b"%PDF-1.7\n\x00\xff binary"

    payload = json.loads(Document(filename="a.pdf", content=content).model_dump_json())

    assert payload["content"] == base64.b64encode(content).decode("ascii")


def test_document_content_round_trips_through_json() -> None:
    content = bytes(range(256))
    document = Document(filename="a.pdf", content=content)

    assert Document.model_validate_json(document.model_dump_json()).content == content


def test_a_whole_submit_letter_round_trips_through_json() -> None:
    message = submit_letter()

    assert SubmitLetter.model_validate_json(message.to_json()) == message


def with_birth_date(born: object) -> str:
    """A `SubmitLetter` as JSON whose recipient declares `born` as birth date."""
    payload = json.loads(submit_letter().to_json())
    payload["recipient"]["birth_date"] = born
    return json.dumps(payload)


def test_a_recipients_birth_date_is_optional_and_travels_as_an_iso_date() -> None:
    earlier = json.loads(submit_letter().to_json())
    del earlier["recipient"]["birth_date"]  # a deposit written before the field existed

    assert SubmitLetter.model_validate_json(json.dumps(earlier)).recipient.birth_date is None
    born = SubmitLetter.model_validate_json(with_birth_date("1990-04-12"))
    assert born.recipient.birth_date == date(1990, 4, 12)
    assert json.loads(born.to_json())["recipient"]["birth_date"] == "1990-04-12"
    assert SubmitLetter.model_validate_json(born.to_json()) == born


@pytest.mark.parametrize(
    ("born", "reason"),
    [
        ((datetime.now(UTC).date() + timedelta(days=1)).isoformat(), "is in the future"),
        ("2999-01-01", "is in the future"),
        ("1899-12-31", "is before 1900"),
        ("12/04/1990", "valid date"),
    ],
    ids=["tomorrow", "far-future", "before-1900", "not-iso"],
)
def test_a_birth_date_that_cannot_be_the_recipients_is_refused_on_its_field(born: str, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SubmitLetter.model_validate_json(with_birth_date(born))

    [error] = refused.value.errors()
    assert error["loc"] == ("recipient", "birth_date")
    assert reason in error["msg"]


@pytest.mark.parametrize("born", ["1900-01-01", "today"])
def test_birth_dates_from_1900_to_today_are_taken(born: str) -> None:
    iso = datetime.now(UTC).date().isoformat() if born == "today" else born

    taken = SubmitLetter.model_validate_json(with_birth_date(iso))

    assert taken.recipient.birth_date == date.fromisoformat(iso)


@pytest.mark.parametrize("bad", ["not base64!", "abc", "QUJD*A==", "QUJD\nRA=="])
def test_invalid_base64_content_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="base64"):
        Document.model_validate_json(json.dumps({"filename": "a.pdf", "content": bad}))


def test_non_text_content_in_json_is_refused() -> None:
    with pytest.raises(ValidationError, match="base64"):
        Document.model_validate_json(json.dumps({"filename": "a.pdf", "content": 12345}))


def test_item_number_of_twelve_digits_is_accepted() -> None:
    assert letter_deposited("123456789012").item_number == "123456789012"


@pytest.mark.parametrize(
    "bad",
    ["12345678901", "1234567890123", "12345678901a", "1234 5678901", "", "123456789012\n"],
    ids=["11-digits", "13-digits", "letter", "space", "empty", "trailing-newline"],
)
def test_item_number_must_be_exactly_twelve_digits(bad: str) -> None:
    with pytest.raises(ValidationError, match="item_number"):
        letter_deposited(bad)


def test_item_number_refuses_non_ascii_digits() -> None:
    with pytest.raises(ValidationError, match="item_number"):
        letter_deposited("\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662")


@pytest.mark.parametrize("message_type", ALL_MESSAGES, ids=lambda m: m.__name__)
def test_every_message_routing_key_ends_in_v1(message_type: type) -> None:
    assert message_type.routing_key
    assert message_type.routing_key.endswith(".v1")


@pytest.mark.parametrize(
    "message_type", [m for m in ALL_MESSAGES if not issubclass(m, Reply)], ids=lambda m: m.__name__
)
def test_every_published_message_names_an_lre_exchange(message_type: type) -> None:
    assert message_type.exchange.startswith("lre.")
    assert message_type.exchange.endswith((".events", ".commands"))


@pytest.mark.parametrize(
    "message_type", [m for m in ALL_MESSAGES if issubclass(m, Reply)], ids=lambda m: m.__name__
)
def test_replies_travel_on_the_default_exchange(message_type: type) -> None:
    assert message_type.exchange == ""


def test_routing_keys_are_unique() -> None:
    keys = [m.routing_key for m in ALL_MESSAGES]
    assert len(keys) == len(set(keys))


def test_event_timestamps_other_than_occurred_at_are_utc_too() -> None:
    event = NoticeSent(
        correlation_id=uuid4(),
        notice_id=uuid4(),
        item_number="123456789012",
        channel="email",
        address="a@b.example",
        sent_at=datetime(2025, 7, 14, 12, 0, tzinfo=PARIS_SUMMER),
    )

    assert event.sent_at == datetime(2025, 7, 14, 10, 0, tzinfo=UTC)
    assert event.sent_at.utcoffset() == timedelta(0)
