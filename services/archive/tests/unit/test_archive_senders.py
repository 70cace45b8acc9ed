"""`lre-senders add | password | remove`: sender ids, what each sender's broker user may do, and
the registry kept beside the broker, with both in memory."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from archive.domain.senders import SenderIdRefused, check_sender_id, sender_binding, sender_permissions
from archive.service_layer.senders import (
    RegisteredSender,
    SenderExists,
    SenderUnknown,
    add_sender,
    remove_sender,
    rotate_password,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_permissions_are_those_of_the_operations_guide() -> None:
    allowed = sender_permissions("acme")

    assert allowed.configure == r"^lre-send\.acme\..*$"
    assert allowed.write == r"^(lre\.senders\.commands|lre-send\.acme\..*)$"
    assert allowed.read == r"^(lre\.sender\.acme|lre-send\.acme\..*|lre\.senders\.events)$"
    assert (allowed.topic_exchange, allowed.topic_write, allowed.topic_read) == (
        "lre.senders.events",
        "^$",
        r"^acme\.",
    )
    assert sender_binding("acme") == "acme.#"


@pytest.mark.parametrize(
    ("resource", "kind", "allowed"),
    [
        ("lre.senders.commands", "write", True),
        ("lre.archive.commands", "write", False),
        ("lre.archive.events", "read", False),
        ("lre.signer.events", "read", False),
        ("lre.sender.acme", "read", True),
        ("lre.sender.acme-corp", "read", False),
        ("lre.sender.globex", "read", False),
        ("lre-send.acme.5f0c", "configure", True),
        ("lre-send.acme-corp.5f0c", "configure", False),
        ("lre-send.globex.5f0c", "configure", False),
        ("lre.sender.acme", "configure", False),
        ("archive.submit_letter.v1", "read", False),
    ],
)
def test_a_sender_reaches_its_own_resources_only(resource: str, kind: str, allowed: bool) -> None:
    pattern = getattr(sender_permissions("acme"), kind)

    assert bool(re.search(pattern, resource)) is allowed


@pytest.mark.parametrize("key", ["acme.deposited", "acme.notice_sent"])
def test_a_sender_binds_its_own_routing_keys(key: str) -> None:
    assert re.search(sender_permissions("acme").topic_read, key)


@pytest.mark.parametrize("key", ["globex.deposited", "#", "*.deposited", "acme-corp.deposited", "acme"])
def test_a_sender_binds_no_other_routing_key(key: str) -> None:
    assert not re.search(sender_permissions("acme").topic_read, key)


@pytest.mark.parametrize("sender_id", ["acme", "a", "acme-corp_2", "0day", "x" * 63])
def test_a_sender_id_is_one_routing_key_word_and_a_user_name(sender_id: str) -> None:
    assert check_sender_id(sender_id) == sender_id


@pytest.mark.parametrize(
    "sender_id", ["", "Acme", "acme.corp", "acme#", "-acme", "_acme", "a b", "x" * 64, "é"]
)
def test_anything_else_is_no_sender_id(sender_id: str) -> None:
    with pytest.raises(SenderIdRefused, match="not a sender id"):
        check_sender_id(sender_id)


@dataclass
class Registry:
    rows: dict[str, RegisteredSender] = field(default_factory=dict)

    async def get(self, sender_id: str) -> RegisteredSender | None:
        return self.rows.get(sender_id)

    async def add(self, sender_id: str, name: str, now: datetime) -> None:
        self.rows[sender_id] = RegisteredSender(sender_id, name, now, now)

    async def password_set(self, sender_id: str, now: datetime) -> None:
        self.rows[sender_id] = replace(self.rows[sender_id], password_set_at=now)

    async def remove(self, sender_id: str, now: datetime) -> None:
        self.rows[sender_id] = replace(self.rows[sender_id], removed_at=now)

    async def listing(self, *, removed: bool) -> list[RegisteredSender]:
        return [r for r in self.rows.values() if removed or r.removed_at is None]


@dataclass
class Broker:
    users: dict[str, str] = field(default_factory=dict)  # user: password

    async def grant(self, sender_id: str, password: str) -> None:
        self.users[sender_id] = password

    async def set_password(self, sender_id: str, password: str) -> None:
        self.users[sender_id] = password

    async def revoke(self, sender_id: str) -> None:
        self.users.pop(sender_id, None)


async def test_adding_a_sender_records_it_and_gives_its_user_a_fresh_password() -> None:
    registry, broker = Registry(), Broker()

    password = await add_sender("acme", "ACME SAS", registry=registry, broker=broker, clock=lambda: NOW)

    assert broker.users == {"acme": password}
    assert len(password) >= 40
    assert registry.rows["acme"] == RegisteredSender("acme", "ACME SAS", NOW, NOW)


async def test_a_sender_is_added_once() -> None:
    registry, broker = Registry(), Broker()
    await add_sender("acme", "", registry=registry, broker=broker, clock=lambda: NOW)

    with pytest.raises(SenderExists, match="lre-senders password acme"):
        await add_sender("acme", "", registry=registry, broker=broker, clock=lambda: NOW)


async def test_a_new_password_replaces_the_old_one() -> None:
    registry, broker = Registry(), Broker()
    first = await add_sender("acme", "", registry=registry, broker=broker, clock=lambda: NOW)

    second = await rotate_password("acme", registry=registry, broker=broker, clock=lambda: NOW)

    assert second != first and broker.users == {"acme": second}


async def test_a_removed_sender_loses_its_user_keeps_its_row_and_may_come_back() -> None:
    registry, broker = Registry(), Broker()
    await add_sender("acme", "ACME", registry=registry, broker=broker, clock=lambda: NOW)

    await remove_sender("acme", registry=registry, broker=broker, clock=lambda: NOW)

    assert broker.users == {}
    assert registry.rows["acme"].removed_at == NOW
    with pytest.raises(SenderUnknown):
        await rotate_password("acme", registry=registry, broker=broker, clock=lambda: NOW)
    await add_sender("acme", "ACME", registry=registry, broker=broker, clock=lambda: NOW)
    assert "acme" in broker.users


async def test_an_unknown_sender_cannot_be_removed() -> None:
    with pytest.raises(SenderUnknown, match="no sender globex"):
        await remove_sender("globex", registry=Registry(), broker=Broker(), clock=lambda: NOW)
