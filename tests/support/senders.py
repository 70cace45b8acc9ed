"""Sender systems' own broker users in tests, made by `lre-senders add`'s own code
(`archive.adapters.broker_users`): the user, its permissions on the test's virtual host and its
queue `lre.sender.<id>`; the user is deleted afterwards (broker users span virtual hosts).

    async with sender_user(amqp_url) as acme:        # a fresh sender id, t<hex>
        async with SenderClient(acme.amqp_url, acme.sender_id) as client: ...

or the `sender` fixture (function scope) on the session's virtual host.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from archive.adapters.broker_users import RabbitBrokerAccess
from archive.service_layer.senders import new_password
from tests.support import infra


@dataclass(frozen=True)
class SenderUser:
    sender_id: str
    amqp_url: str  # the test's virtual host, as this sender's own broker user


def as_user(amqp_url: str, user: str, password: str) -> str:
    """`amqp_url` with another user's credentials."""
    parts = urlsplit(amqp_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def broker_access(amqp_url: str) -> RabbitBrokerAccess:
    """What `lre-senders` uses, for the virtual host of `amqp_url`, whose user (the platform's)
    administers the broker."""
    parts = urlsplit(amqp_url)
    return RabbitBrokerAccess(
        infra.rabbitmq_admin_url(amqp_url), parts.username or "guest", parts.password or "guest", amqp_url
    )


@asynccontextmanager
async def sender_user(amqp_url: str, sender_id: str | None = None) -> AsyncIterator[SenderUser]:
    """A sender system's broker user on the virtual host of `amqp_url`, removed on leaving."""
    sender_id = sender_id or f"t{uuid.uuid4().hex[:12]}"
    access = broker_access(amqp_url)
    password = new_password()
    await access.grant(sender_id, password)
    try:
        yield SenderUser(sender_id, as_user(amqp_url, sender_id, password))
    finally:
        await access.revoke(sender_id)


@pytest.fixture
async def sender(amqp_url: str) -> AsyncIterator[SenderUser]:
    async with sender_user(amqp_url) as made:
        yield made
