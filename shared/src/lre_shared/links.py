"""Short-lived signed links that a service serves itself.

A link names what it opens (a path, a document) and when it expires, signed with the
service's HMAC-SHA256 key: anyone holding it may use it until then, and any change to what it
names, to the expiry or to the signature makes it worthless. Never a public URL nor an S3
presigned one: the service checks the link, then reads, checks or decrypts what it serves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime


def signature(key: bytes, subject: str, expires_at: datetime) -> str:
    """The signature of a link to `subject` until `expires_at` (to the second)."""
    message = f"{subject}:{int(expires_at.timestamp())}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def query(key: bytes, subject: str, expires_at: datetime) -> str:
    """The query string that signs a link to `subject`: `expires=...&token=...`."""
    return f"expires={int(expires_at.timestamp())}&token={signature(key, subject, expires_at)}"


def check(key: bytes, subject: str, expires: str, token: str, now: datetime) -> str | None:
    """None when the link to `subject` is good; otherwise why it is not."""
    try:
        expires_at = datetime.fromtimestamp(int(expires), UTC)
    except (ValueError, OverflowError, OSError):
        return "malformed link"
    # Compared as the one spelling we issue (no variant in base64's unused bits).
    if not token.isascii() or not hmac.compare_digest(signature(key, subject, expires_at), token):
        return "invalid link"
    if now >= expires_at:
        return "the link has expired: ask for a new one"
    return None
