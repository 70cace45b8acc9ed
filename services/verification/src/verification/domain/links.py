"""Short-lived links that show an identity document to an agent: never a public URL nor an
S3 presigned one, but a path of this service carrying the document id and an expiry, signed
as every service's links are (`lre_shared.links`); the service checks it, decrypts the
document and serves it."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from uuid import UUID

from lre_shared import links


def sign(key: bytes, document_id: UUID, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{document_id}.{expires}.{links.signature(key, _subject(document_id), expires_at)}"


def verify(key: bytes, token: str, now: datetime) -> UUID | None:
    """The document a link shows, or None if it was altered or has expired."""
    document, _, rest = token.partition(".")
    expires, _, signature = rest.partition(".")
    try:
        document_id = UUID(document)
        expires_at = datetime.fromtimestamp(int(expires), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if links.check(key, _subject(document_id), expires, signature, now) is not None:
        return None
    # One spelling per link: no variant of the id's or the expiry's digits.
    if not token.isascii() or not hmac.compare_digest(sign(key, document_id, expires_at), token):
        return None
    return document_id


def _subject(document_id: UUID) -> str:
    return f"/desk/documents/{document_id}"
