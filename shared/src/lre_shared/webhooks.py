"""Signed webhooks, as the archive sends them and as a sender system checks them.

The archive POSTs each `SenderEvent` of a sender system that registered an endpoint, its JSON
body as it travels on `lre.senders.events`, signed the Standard Webhooks way
(https://www.standardwebhooks.com):

- `webhook-id`: the event's `message_id`, the same on every attempt (deduplicate on it);
- `webhook-timestamp`: when this attempt was signed, in unix seconds;
- `webhook-signature`: `v1,<base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))>`, where the
  key is the secret `whsec_<base64>` decoded; several, separated by spaces, while a secret is
  being rotated (the new one and the one it replaces).

A receiver checks a delivery with `verify`, which returns the event, or raises
`WebhookRefused` saying why: a signature made with another key or over other bytes, a
timestamp too far from now (an old delivery played again), or an id the receiver has already
acted on. The archive signs with `sign`, so both sides share this one implementation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Container, Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from lre_shared.contracts.senders import SenderEvent

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
SECRET_BYTES = 32  # the standard asks for 24 to 64 random bytes
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

Reason = Literal["malformed", "signature", "timestamp", "replayed", "not_an_event"]


class WebhookRefused(Exception):
    """A delivery that must not be acted on. `reason` says which check failed: `malformed`
    (headers missing or unreadable), `signature` (no signature made with the secret over
    these bytes), `timestamp` (outside the tolerance: an old delivery played again, or a
    clock far off), `replayed` (an id already acted on: answer 2xx, it was handled),
    `not_an_event` (signed, but no `SenderEvent`: a ping, say)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


def new_secret() -> str:
    """A fresh endpoint secret, `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_…` secret stands for."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is `whsec_` followed by base64") from exc
    if len(key) < 24:
        raise ValueError("a webhook secret holds at least 24 bytes")
    return key


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of `body` sent under `webhook_id` at `timestamp`."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign(
    secret: str | Sequence[str], webhook_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The headers of one delivery of `body`: signed with each secret given (the current one
    first, then one being retired), at `timestamp` (default: now)."""
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise ValueError("no secret to sign with")
    at = int(datetime.now(UTC).timestamp()) if timestamp is None else timestamp
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(at),
        SIGNATURE_HEADER: " ".join(signature(key, webhook_id, at, body) for key in keys),
        "content-type": "application/json",
    }


def verify_payload(
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = 300,
    now: datetime | None = None,
    seen: Container[str] | None = None,
) -> bytes:
    """`body`, once its signature, timestamp and id are checked (see `verify`); for what is
    not a `SenderEvent`, such as the `{"type": "ping"}` of `lre-senders webhook ping`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    webhook_id = lowered.get(ID_HEADER, "")
    stamp = lowered.get(TIMESTAMP_HEADER, "")
    offered = lowered.get(SIGNATURE_HEADER, "")
    if not webhook_id or not stamp or not offered:
        raise WebhookRefused(
            "malformed", f"{ID_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are needed"
        )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookRefused("malformed", f"{TIMESTAMP_HEADER} is not unix seconds: {stamp[:40]!r}") from None
    keys = [secret] if isinstance(secret, str) else list(secret)
    expected = [signature(key, webhook_id, timestamp, body) for key in keys]
    # Every pair is compared, in constant time, whatever matched first.
    matched = False
    for candidate in offered.split():
        for wanted in expected:
            matched |= hmac.compare_digest(candidate.encode(), wanted.encode())
    if not matched:
        raise WebhookRefused("signature", "no v1 signature made with this secret over this body")
    at = (now or datetime.now(UTC)).timestamp()
    if abs(at - timestamp) > tolerance_seconds:
        raise WebhookRefused(
            "timestamp", f"signed {int(at - timestamp)} s from now, beyond {tolerance_seconds} s"
        )
    if seen is not None and webhook_id in seen:
        raise WebhookRefused("replayed", f"{webhook_id} was already received")
    return body


def verify(
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = 300,
    now: datetime | None = None,
    seen: Container[str] | None = None,
) -> SenderEvent:
    """The event a webhook delivery carries, once checked: a `v1` signature made with
    `secret` (or one of several, while the receiver rotates its own) over the id, timestamp
    and these exact bytes, compared in constant time; a timestamp within `tolerance_seconds`
    of `now`; and an id not in `seen` (the ids the receiver has acted on: add an event's id
    there once it is handled, since a delivery is retried until it is answered with 2xx).
    Raises `WebhookRefused` otherwise."""
    checked = verify_payload(secret, headers, body, tolerance_seconds=tolerance_seconds, now=now, seen=seen)
    try:
        return SenderEvent.model_validate_json(checked)
    except ValidationError as exc:
        raise WebhookRefused(
            "not_an_event", f"signed, but not a SenderEvent: {exc.error_count()} errors"
        ) from None
