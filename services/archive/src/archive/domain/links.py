"""Download links the archive serves itself: a document, or the whole letter as one zip.

A link names what it opens (one document of a letter, or a letter's zip) and an expiry,
signed with the archive's HMAC key. It is short-lived and handed only to the pickup site,
which streams what it opens on to the recipient; anyone holding it may use it until it
expires. Any change to the path, the expiry or the token makes it worthless. The archive
serves the bytes itself, rather than through a presigned link to the store, so it checks
their SHA-256 on every read (see `S3ContentStore.stream`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from lre_shared import links


@dataclass(frozen=True)
class Links:
    key: bytes  # HMAC key of the links
    base_url: str  # where the pickup site reaches this service
    document_lifetime: timedelta
    zip_lifetime: timedelta
    envelope_wait: timedelta = timedelta(minutes=1)  # for the first envelope, after the signature

    def url(self, path: str, expires_at: datetime) -> str:
        return f"{self.base_url.rstrip('/')}{path}?{links.query(self.key, path, expires_at)}"


def zip_path(letter_id: UUID) -> str:
    return f"/letters/{letter_id}/zip"


def document_path(letter_id: UUID, document_id: UUID) -> str:
    return f"/letters/{letter_id}/documents/{document_id}"


# The archive's links are signed and checked as every service's are.
check_link = links.check
