"""Sender systems' API keys: issue, list, revoke (the operator's `lre-senders key`), and
authenticate a request's key (the HTTP API)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

from archive.domain.api_keys import digest, new_key, prefix_of


@dataclass(frozen=True)
class StoredKey:
    key_id: UUID
    sender_id: str
    prefix: str
    key_sha256: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeys(Protocol):
    """The keys' table (`adapters/api_keys.py`)."""

    async def add(
        self, key_id: UUID, sender_id: str, prefix: str, key_sha256: str, label: str | None
    ) -> None: ...
    async def by_prefix(self, prefix: str) -> StoredKey | None: ...
    async def of_sender(self, sender_id: str) -> list[StoredKey]: ...
    async def revoke(self, key_id: UUID) -> bool:
        """True when the key was live and is now revoked."""
        ...

    async def used(self, key_id: UUID) -> None: ...
    async def letter_sender(self, letter_id: UUID) -> str | None:
        """Who deposited the letter; None for a letter the archive does not know."""
        ...


@dataclass(frozen=True)
class IssuedKey:
    key_id: UUID
    key: str  # shown once
    prefix: str


async def issue_key(keys: ApiKeys, sender_id: str, label: str | None = None) -> IssuedKey:
    made = new_key()
    key_id = uuid4()
    await keys.add(key_id, sender_id, made.prefix, made.sha256, label)
    return IssuedKey(key_id, made.key, made.prefix)


async def authenticate(keys: ApiKeys, presented: str) -> str | None:
    """The sender whose live key this is; None for anything else (malformed, unknown, wrong
    secret, revoked). The hash is compared in constant time."""
    prefix = prefix_of(presented)
    if prefix is None:
        return None
    stored = await keys.by_prefix(prefix)
    if stored is None or stored.revoked_at is not None:
        return None
    if not hmac.compare_digest(stored.key_sha256, digest(presented)):
        return None
    await keys.used(stored.key_id)
    return stored.sender_id
