"""Download links the archive serves itself: a document, or the whole letter as one zip.

A link names what it opens (one document of a letter, or a letter's zip) and an expiry,
signed with the archive's HMAC key. It is short-lived and handed only to the pickup site,
which streams what it opens on to the recipient; anyone holding it may use it until it
expires. Any change to the path, the expiry or the token makes it worthless. The archive
serves the bytes itself, rather than through a presigned link to the store, so it checks
their SHA-256 on every read (see `S3ContentStore.stream`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID


@dataclass(frozen=True)
class Links:
    key: bytes  # HMAC key of the links
    base_url: str  # where the pickup site reaches this service
    document_lifetime: timedelta
    zip_lifetime: timedelta
    envelope_wait: timedelta = timedelta(minutes=1)  # for the first envelope, after the signature

    def url(self, path: str, expires_at: datetime) -> str:
        return f"{self.base_url.rstrip('/')}{path}?{link_query(self.key, path, expires_at)}"


def zip_path(letter_id: UUID) -> str:
    return f"/letters/{letter_id}/zip"


def document_path(letter_id: UUID, document_id: UUID) -> str:
    return f"/letters/{letter_id}/documents/{document_id}"


def link_token(key: bytes, path: str, expires_at: datetime) -> str:
    message = f"{path}:{int(expires_at.timestamp())}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def link_query(key: bytes, path: str, expires_at: datetime) -> str:
    return f"expires={int(expires_at.timestamp())}&token={link_token(key, path, expires_at)}"


def check_link(key: bytes, path: str, expires: str, token: str, now: datetime) -> str | None:
    """None when the link to `path` is good; otherwise why it is not."""
    try:
        expires_at = datetime.fromtimestamp(int(expires), UTC)
    except (ValueError, OverflowError, OSError):
        return "malformed link"
    if not hmac.compare_digest(link_token(key, path, expires_at), token):
        return "invalid link"
    if now >= expires_at:
        return "the link has expired: ask for a new one"
    return None
