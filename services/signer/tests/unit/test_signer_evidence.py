"""Evidence records: canonical JSON, ETSI event URIs, and a hash chain per letter."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from signer.domain.evidence import (
    EVENT_URI_BASE,
    NON_QUALIFIED_LABEL,
    UNSEALED,
    UNSEALED_LABEL,
    EvidenceEvent,
    SealAssurance,
    build_record,
    canonical_json,
    reasons,
)

LETTER = UUID("11111111-1111-4111-8111-111111111111")


def record_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "evidence_id": UUID("22222222-2222-4222-8222-222222222222"),
        "event": EvidenceEvent.submission_acceptance,
        "event_time": datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        "letter_id": LETTER,
        "item_number": "799273987130",
        "details": {"sha256": "a" * 64, "size": 1234},
        "policy_id": "urn:lre:policy:default",
        "seq": 1,
        "previous_sha256": None,
        "seal": UNSEALED,
    }
    fields.update(changes)
    return fields


def test_canonical_json_sorts_keys_at_every_level() -> None:
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == b'{"a":{"c":3,"d":2},"b":1}'


def test_canonical_json_has_no_insignificant_whitespace() -> None:
    assert canonical_json({"a": [1, 2], "b": None}) == b'{"a":[1,2],"b":null}'


def test_canonical_json_keeps_non_ascii_as_utf8() -> None:
    assert canonical_json({"city": "Orléans"}) == '{"city":"Orléans"}'.encode()


def test_canonical_json_does_not_depend_on_insertion_order() -> None:
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match="JSON"):
        canonical_json({"x": float("nan")})


def test_a_record_is_canonical_json() -> None:
    body, _ = build_record(**record_fields())

    assert body == canonical_json(json.loads(body))
    assert b"\n" not in body


def test_a_record_is_stable_for_the_same_inputs() -> None:
    assert build_record(**record_fields()) == build_record(**record_fields())


def test_a_record_does_not_depend_on_the_order_of_its_details() -> None:
    first = build_record(**record_fields(details={"a": 1, "b": 2}))
    second = build_record(**record_fields(details={"b": 2, "a": 1}))

    assert first == second


def test_the_record_hash_is_the_sha256_of_its_bytes() -> None:
    body, digest = build_record(**record_fields())

    assert digest == hashlib.sha256(body).hexdigest()


def test_the_record_holds_the_etsi_event_uri() -> None:
    body, _ = build_record(**record_fields(event=EvidenceEvent.consignment_acceptance))

    record = json.loads(body)
    assert record["event"] == "ConsignmentAcceptance"
    assert record["event_uri"] == "http://uri.etsi.org/19522/Event/ConsignmentAcceptance"


ETSI_EVENTS = [event for event in EvidenceEvent if not event.is_platform_extension]


@pytest.mark.parametrize("event", ETSI_EVENTS, ids=lambda e: e.value)
def test_every_etsi_event_uri_is_under_the_etsi_event_namespace(event: EvidenceEvent) -> None:
    assert EVENT_URI_BASE == "http://uri.etsi.org/19522/Event/"
    assert event.uri == EVENT_URI_BASE + event.value


def test_the_signed_receipt_is_a_platform_extension_and_never_claims_an_etsi_uri() -> None:
    event = EvidenceEvent.receipt_acknowledgement

    assert event.is_platform_extension
    assert event.uri == "urn:lre:evidence-event:ReceiptAcknowledgement"
    assert not event.uri.startswith("http://uri.etsi.org/")


def test_negative_events_give_their_reasons_and_a_refused_deposit_one_per_field() -> None:
    refused_deposit = {
        "details": {"sender_id": "s", "problems": [{"field": "recipient.email", "reason": "not an address"}]}
    }
    bounced = {"details": {"channel": "email", "reason": "SMTP 550: no such mailbox"}}

    assert EvidenceEvent.submission_rejection.negative
    assert not EvidenceEvent.consignment_acceptance.negative
    assert reasons(refused_deposit) == ("recipient.email: not an address",)
    assert reasons(bounced) == ("SMTP 550: no such mailbox",)
    assert reasons({"details": {}}) == ()


def test_the_record_carries_every_field() -> None:
    fields = record_fields()
    body, _ = build_record(**fields)

    record = json.loads(body)
    assert record["evidence_id"] == str(fields["evidence_id"])
    assert record["letter_id"] == str(LETTER)
    assert record["item_number"] == fields["item_number"]
    assert record["event_time"] == "2025-03-01T09:00:00+00:00"
    assert record["details"] == fields["details"]
    assert record["policy_id"] == fields["policy_id"]
    assert record["previous_sha256"] is None


@pytest.mark.parametrize(
    ("name", "other"),
    [
        ("evidence_id", UUID("33333333-3333-4333-8333-333333333333")),
        ("event", EvidenceEvent.submission_rejection),
        ("event_time", datetime(2025, 3, 1, 9, 0, 1, tzinfo=UTC)),
        ("letter_id", UUID("44444444-4444-4444-8444-444444444444")),
        ("item_number", "799273987131"),
        ("item_number", None),
        ("details", {"sha256": "b" * 64, "size": 1234}),
        ("details", {"sha256": "a" * 64, "size": 1235}),
        ("policy_id", "urn:lre:policy:cnb"),
        ("seal", SealAssurance(sealed=True)),
    ],
)
def test_changing_any_field_changes_the_hash(name: str, other: Any) -> None:
    _, original = build_record(**record_fields())
    _, changed = build_record(**record_fields(**{name: other}))

    assert changed != original


def test_the_second_record_links_to_the_hash_of_the_first() -> None:
    _, first_hash = build_record(**record_fields())
    second_body, _ = build_record(
        **record_fields(
            evidence_id=UUID("55555555-5555-4555-8555-555555555555"),
            event=EvidenceEvent.notification_for_acceptance,
            seq=2,
            previous_sha256=first_hash,
        )
    )

    assert json.loads(second_body)["previous_sha256"] == first_hash


def test_editing_the_first_record_breaks_the_link_from_the_second() -> None:
    _, first_hash = build_record(**record_fields())
    second_body, _ = build_record(**record_fields(seq=2, previous_sha256=first_hash))
    _, edited_first_hash = build_record(**record_fields(details={"sha256": "a" * 64, "size": 1}))

    assert json.loads(second_body)["previous_sha256"] != edited_first_hash


def test_changing_the_link_or_the_position_changes_the_hash() -> None:
    _, second = build_record(**record_fields(seq=2, previous_sha256="c" * 64))
    _, relinked = build_record(**record_fields(seq=2, previous_sha256="d" * 64))
    _, moved = build_record(**record_fields(seq=3, previous_sha256="c" * 64))

    assert len({second, relinked, moved}) == 3


@pytest.mark.parametrize(("seq", "previous"), [(1, "c" * 64), (2, None)])
def test_only_the_first_record_has_no_previous_record(seq: int, previous: str | None) -> None:
    with pytest.raises(ValueError, match="first record"):
        build_record(**record_fields(seq=seq, previous_sha256=previous))


def test_an_unsealed_record_says_so() -> None:
    body, _ = build_record(**record_fields(seal=UNSEALED))

    assert json.loads(body)["seal"] == {"sealed": False, "qualified": False, "label": UNSEALED_LABEL}


def test_a_record_sealed_with_a_non_qualified_key_says_non_qualifie() -> None:
    body, _ = build_record(**record_fields(seal=SealAssurance(sealed=True)))

    assert json.loads(body)["seal"]["label"] == NON_QUALIFIED_LABEL == "non qualifié"


def test_an_unsealed_record_cannot_claim_to_be_qualified() -> None:
    with pytest.raises(ValueError, match="qualified"):
        SealAssurance(sealed=False, qualified=True)


def test_canonical_json_follows_rfc_8785_number_and_key_order() -> None:
    # RFC 8785 §3.2.2.3 (ECMAScript numbers) and §3.2.3 (keys sorted by UTF-16 code units)
    # U+FF21 sorts after U+1F600 in UTF-16 (0xFF21 > 0xD83D), before it by code point.
    assert canonical_json({"b": 1.0, "a": 1e21, "\uff21": 0, "\U0001f600": 0}) == (
        '{"a":1e+21,"b":1,"\U0001f600":0,"\uff21":0}'.encode()
    )
