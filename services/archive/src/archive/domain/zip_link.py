"""Zip download links: a letter id and an expiry, signed with the archive's HMAC key.

The link is short-lived and names one letter; anyone holding it may fetch that letter's zip
until it expires, so it is handed only to the pickup site, which streams it on to the
recipient. Any change to the letter id, the expiry or the token makes it worthless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from uuid import UUID


def zip_token(key: bytes, letter_id: UUID, expires_at: datetime) -> str:
    message = f"zip:{letter_id}:{int(expires_at.timestamp())}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def zip_path(letter_id: UUID) -> str:
    return f"/letters/{letter_id}/zip"


def zip_query(key: bytes, letter_id: UUID, expires_at: datetime) -> str:
    return f"expires={int(expires_at.timestamp())}&token={zip_token(key, letter_id, expires_at)}"


def check_zip_token(key: bytes, letter_id: UUID, expires: str, token: str, now: datetime) -> str | None:
    """None when the link is good; otherwise why it is not."""
    try:
        expires_at = datetime.fromtimestamp(int(expires), UTC)
    except (ValueError, OverflowError, OSError):
        return "malformed link"
    if not hmac.compare_digest(zip_token(key, letter_id, expires_at), token):
        return "invalid link"
    if now >= expires_at:
        return "the link has expired: ask for a new one"
    return None
