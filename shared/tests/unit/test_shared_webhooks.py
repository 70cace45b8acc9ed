"""Signed webhooks (`lre_shared.webhooks`): what a sender system's receiver accepts and refuses.

The reference vector is Standard Webhooks' own (its libraries' tests), so a receiver using any
Standard Webhooks library agrees with the archive's signatures.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from lre_shared.contracts import SenderEvent, SenderEventKind
from lre_shared.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookRefused,
    new_secret,
    secret_key,
    sign,
    signature,
    verify,
    verify_payload,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def event() -> SenderEvent:
    return SenderEvent(
        correlation_id=uuid4(),
        sender_id="acme",
        event=SenderEventKind.accepted,
        sequence=3,
        item_number="1A00000000017",
        event_time=NOW,
    )


def delivered(secret: str | list[str], at: datetime = NOW) -> tuple[SenderEvent, dict[str, str], bytes]:
    sent = event()
    body = sent.to_json()
    return sent, sign(secret, str(sent.message_id), body, timestamp=int(at.timestamp())), body


def test_the_signature_is_standard_webhooks_reference_one() -> None:
    assert (
        signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_a_secret_too_short_or_not_base64_is_refused() -> None:
    with pytest.raises(ValueError, match="24 bytes"):
        secret_key("whsec_" + base64.b64encode(b"x" * 16).decode())
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not base64!")


def test_a_signed_delivery_verifies_and_gives_back_the_event() -> None:
    secret = new_secret()
    sent, headers, body = delivered(secret)
    assert verify(secret, headers, body, now=NOW + timedelta(seconds=2)) == sent


def test_header_names_are_matched_whatever_their_case() -> None:
    secret = new_secret()
    sent, headers, body = delivered(secret)
    shouted = {name.title(): value for name, value in headers.items()}
    assert verify(secret, shouted, body, now=NOW) == sent


def test_a_tampered_body_is_refused() -> None:
    secret = new_secret()
    _, headers, body = delivered(secret)
    tampered = body.replace(b'"accepted"', b'"refused"')
    with pytest.raises(WebhookRefused) as refused:
        verify(secret, headers, tampered, now=NOW)
    assert refused.value.reason == "signature"


def test_a_moved_timestamp_breaks_the_signature() -> None:
    secret = new_secret()
    _, headers, body = delivered(secret)
    headers[TIMESTAMP_HEADER] = str(int(NOW.timestamp()) + 60)
    with pytest.raises(WebhookRefused, match="signature"):
        verify(secret, headers, body, now=NOW)


def test_another_secret_is_refused() -> None:
    _, headers, body = delivered(new_secret())
    with pytest.raises(WebhookRefused, match="signature"):
        verify(new_secret(), headers, body, now=NOW)


def test_an_old_delivery_played_again_is_refused_by_its_timestamp() -> None:
    secret = new_secret()
    _, headers, body = delivered(secret, at=NOW - timedelta(minutes=6))
    with pytest.raises(WebhookRefused) as refused:
        verify(secret, headers, body, now=NOW)
    assert refused.value.reason == "timestamp"
    assert verify(secret, headers, body, now=NOW, tolerance_seconds=600).sequence == 3


def test_a_timestamp_far_in_the_future_is_refused_too() -> None:
    secret = new_secret()
    _, headers, body = delivered(secret, at=NOW + timedelta(minutes=6))
    with pytest.raises(WebhookRefused, match="timestamp"):
        verify(secret, headers, body, now=NOW)


def test_a_replay_within_the_tolerance_is_refused_by_its_id() -> None:
    secret = new_secret()
    sent, headers, body = delivered(secret)
    seen: set[str] = set()
    verify(secret, headers, body, now=NOW, seen=seen)
    seen.add(str(sent.message_id))  # the receiver acted on it
    with pytest.raises(WebhookRefused) as refused:
        verify(secret, headers, body, now=NOW + timedelta(seconds=30), seen=seen)
    assert refused.value.reason == "replayed"


def test_during_a_rotation_the_new_and_the_old_secret_both_verify() -> None:
    old, new = new_secret(), new_secret()
    _, headers, body = delivered([new, old])
    assert len(headers[SIGNATURE_HEADER].split()) == 2
    verify(old, headers, body, now=NOW)
    verify(new, headers, body, now=NOW)
    with pytest.raises(WebhookRefused, match="signature"):
        verify(new_secret(), headers, body, now=NOW)


def test_a_receiver_rotating_its_own_secret_accepts_either() -> None:
    old, new = new_secret(), new_secret()
    _, headers, body = delivered(old)
    verify([new, old], headers, body, now=NOW)


def test_signatures_of_another_version_or_garbage_are_ignored() -> None:
    secret = new_secret()
    _, headers, body = delivered(secret)
    good = headers[SIGNATURE_HEADER]
    headers[SIGNATURE_HEADER] = f"v2,abc v1a,{good[3:]} nonsense {good}"
    verify(secret, headers, body, now=NOW)
    headers[SIGNATURE_HEADER] = "v2,abc nonsense"
    with pytest.raises(WebhookRefused, match="signature"):
        verify(secret, headers, body, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_delivery_without_its_headers_is_refused(missing: str) -> None:
    secret = new_secret()
    _, headers, body = delivered(secret)
    del headers[missing]
    with pytest.raises(WebhookRefused) as refused:
        verify(secret, headers, body, now=NOW)
    assert refused.value.reason == "malformed"


def test_a_signed_ping_verifies_as_a_payload_but_is_no_event() -> None:
    secret = new_secret()
    body = b'{"type": "ping"}'
    headers = sign(secret, "ping-1", body, timestamp=int(NOW.timestamp()))
    assert verify_payload(secret, headers, body, now=NOW) == body
    with pytest.raises(WebhookRefused) as refused:
        verify(secret, headers, body, now=NOW)
    assert refused.value.reason == "not_an_event"
