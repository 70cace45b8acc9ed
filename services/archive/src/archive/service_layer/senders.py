"""Sender systems: adding one (its broker user, permissions and queue), rotating its broker
password, removing it, listing them (`lre-senders add | password | remove | list`).

The registry row and the broker change go together: the caller runs each use case in one
database transaction, which the broker's refusal rolls back (the broker's calls are idempotent
puts, so running the command again completes what a failure left half done). The password is
generated here, returned once to be shown to the operator, and kept nowhere: the broker keeps
its hash.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from archive.domain.senders import check_sender_id
from lre_shared.clock import Clock


@dataclass(frozen=True)
class RegisteredSender:
    sender_id: str
    name: str
    added_at: datetime
    password_set_at: datetime
    removed_at: datetime | None = None


class SenderRegistry(Protocol):
    async def get(self, sender_id: str) -> RegisteredSender | None: ...

    async def add(self, sender_id: str, name: str, now: datetime) -> None: ...

    async def password_set(self, sender_id: str, now: datetime) -> None: ...

    async def remove(self, sender_id: str, now: datetime) -> None: ...

    async def listing(self, *, removed: bool) -> list[RegisteredSender]: ...


class BrokerAccess(Protocol):
    """The sender's broker user, its permissions (`archive.domain.senders.sender_permissions`)
    and its queue."""

    async def grant(self, sender_id: str, password: str) -> None: ...

    async def set_password(self, sender_id: str, password: str) -> None: ...

    async def revoke(self, sender_id: str) -> None: ...


class SenderExists(Exception):
    """Added already (and not removed)."""


class SenderUnknown(Exception):
    """Never added, or removed."""


def new_password() -> str:
    # 256 bits, URL-safe: it goes into an AMQP URL as it is.
    return secrets.token_urlsafe(32)


async def add_sender(
    sender_id: str,
    name: str,
    *,
    registry: SenderRegistry,
    broker: BrokerAccess,
    clock: Clock,
    password: Callable[[], str] = new_password,
) -> str:
    """Register the sender and give it its broker user, permissions and queue; returns the
    password, to be shown once."""
    check_sender_id(sender_id)
    known = await registry.get(sender_id)
    if known is not None and known.removed_at is None:
        raise SenderExists(
            f"sender {sender_id} exists already; `lre-senders password {sender_id}` sets a new password"
        )
    secret = password()
    await registry.add(sender_id, name, clock())
    await broker.grant(sender_id, secret)
    return secret


async def rotate_password(
    sender_id: str,
    *,
    registry: SenderRegistry,
    broker: BrokerAccess,
    clock: Clock,
    password: Callable[[], str] = new_password,
) -> str:
    """A new broker password for the sender (connections open with the old one stay until they
    close); returns it, to be shown once."""
    await _active(registry, sender_id)
    secret = password()
    await registry.password_set(sender_id, clock())
    await broker.set_password(sender_id, secret)
    return secret


async def remove_sender(
    sender_id: str, *, registry: SenderRegistry, broker: BrokerAccess, clock: Clock
) -> None:
    """End the sender's access: its broker user (and its connections) and its queue go; the
    registry keeps the row, marked removed."""
    await _active(registry, sender_id)
    await registry.remove(sender_id, clock())
    await broker.revoke(sender_id)


async def _active(registry: SenderRegistry, sender_id: str) -> RegisteredSender:
    known = await registry.get(sender_id)
    if known is None or known.removed_at is not None:
        raise SenderUnknown(f"no sender {sender_id}: `lre-senders list` shows them")
    return known
