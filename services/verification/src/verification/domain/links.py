"""Short-lived links that show an identity document to an agent: never a public URL nor an
S3 presigned one, but a path of this service carrying the document id and an expiry,
signed with HMAC-SHA256; the service checks it, decrypts the document and serves it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import datetime
from uuid import UUID

_LAYOUT = struct.Struct(">16sQ")  # document id, expiry (Unix seconds)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, document_id: UUID, expires_at: datetime) -> str:
    payload = _LAYOUT.pack(document_id.bytes, int(expires_at.timestamp()))
    return _b64(payload + hmac.new(key, payload, hashlib.sha256).digest())


def verify(key: bytes, token: str, now: datetime) -> UUID | None:
    """The document a link shows, or None if it was altered or has expired."""
    try:
        raw = _unb64(token)
    except (ValueError, TypeError):
        return None
    if _b64(raw) != token:  # one spelling per link: no variant in base64's unused bits
        return None
    payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    if len(payload) != _LAYOUT.size or not hmac.compare_digest(
        mac, hmac.new(key, payload, hashlib.sha256).digest()
    ):
        return None
    document, expires = _LAYOUT.unpack(payload)
    if now.timestamp() >= expires:
        return None
    return UUID(bytes=document)
