"""`lre-senders add | list | password | remove`: sender systems and their broker users.

    lre-senders add acme --name "ACME SAS"   # broker user acme, its permissions and queue;
                                             # its AMQP URL with the password, shown once
    lre-senders add acme --credentials-file acme.url   # the URL written there (mode 600) instead
    lre-senders password acme                # a new password, shown once
    lre-senders remove acme                  # its user, connections and queue go
    lre-senders list [--removed]

Each sender system connects as its own broker user, whose permissions let it publish to
`lre.senders.commands` and read only its own letters' events (`archive.domain.senders`); the
platform believes the AMQP `user_id` the broker checked, never the sender id a message names.
The command reads the archive's settings (`ARCHIVE_*`: the database, the AMQP URL, and
`ARCHIVE_BROKER_ADMIN_URL` for RabbitMQ's management API), and needs the service's migrations
applied (the service applies them at start). The password is printed (or written) once and
never logged; the broker keeps only its hash.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from archive.adapters.broker_users import BrokerRefused, RabbitBrokerAccess
from archive.adapters.sender_registry import PgSenderRegistry
from archive.domain.senders import SenderIdRefused, check_sender_id
from archive.entrypoints.admin_database import archive_database
from archive.service_layer import senders
from archive.settings import ArchiveSettings
from lre_shared.clock import now_utc
from lre_shared.topology import sender_queue

T = TypeVar("T")


def broker_access(settings: ArchiveSettings) -> RabbitBrokerAccess:
    """The broker side of sender systems, from the archive's settings."""
    if settings.broker_admin_url is None:
        raise BrokerRefused("set ARCHIVE_BROKER_ADMIN_URL to RabbitMQ's management API (http://host:15672)")
    amqp_url = settings.amqp_url.get_secret_value()
    parts = urlsplit(amqp_url)
    user = settings.broker_admin_user or parts.username or "guest"
    password = (
        settings.broker_admin_password.get_secret_value()
        if settings.broker_admin_password is not None
        else parts.password or "guest"
    )
    return RabbitBrokerAccess(settings.broker_admin_url, user, password, amqp_url)


def sender_url(settings: ArchiveSettings, sender_id: str, password: str) -> str:
    """The AMQP URL the sender system connects with: its own user and password."""
    base = urlsplit(settings.sender_broker_url or settings.amqp_url.get_secret_value())
    host = base.hostname or "localhost"
    netloc = f"{quote(sender_id, safe='')}:{quote(password, safe='')}@{host}"
    if base.port is not None:
        netloc += f":{base.port}"
    return urlunsplit((base.scheme, netloc, base.path, base.query, ""))


def _sender_id(value: str) -> str:
    try:
        return check_sender_id(value)
    except SenderIdRefused as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _hand_over(settings: ArchiveSettings, sender_id: str, password: str, file: Path | None) -> None:
    """The sender's AMQP URL, with its password: on stdout, or into `file` (mode 600)."""
    url = sender_url(settings, sender_id, password)
    if file is None:
        print("its AMQP URL, with the password (shown once; give it to the sender system):", file=sys.stderr)
        print(url)
        return
    file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(url + "\n")
    file.chmod(0o600)
    print(f"its AMQP URL, with the password, is in {file} (mode 600)", file=sys.stderr)


Run = Callable[[argparse.Namespace], Awaitable[int]]


def _guarded(action: Run) -> Run:
    """`action`, its refusals said to the operator in one line, with an exit code."""

    @functools.wraps(action)
    async def run(arguments: argparse.Namespace) -> int:
        try:
            return await action(arguments)
        except (senders.SenderExists, senders.SenderUnknown) as exc:
            print(f"lre-senders: {exc}", file=sys.stderr)
            return 3
        except BrokerRefused as exc:
            print(f"lre-senders: {exc}; nothing was recorded", file=sys.stderr)
            return 1
        except asyncpg.UndefinedTableError:
            print(
                "lre-senders: the archive's database has no senders table: start the archive once",
                file=sys.stderr,
            )
            return 1

    return run


async def _change(use_case: Callable[..., Awaitable[T]], *args: str) -> tuple[ArchiveSettings, T]:
    """`use_case` (one of `senders`) run on the registry and the broker, in one transaction."""
    async with archive_database() as (settings, pool), pool.acquire() as conn, conn.transaction():
        registry, broker = PgSenderRegistry(conn), broker_access(settings)
        done = await use_case(*args, registry=registry, broker=broker, clock=now_utc)
    return settings, done


@_guarded
async def add(arguments: argparse.Namespace) -> int:
    settings, password = await _change(senders.add_sender, arguments.sender_id, arguments.name)
    print(
        f"sender {arguments.sender_id} added: broker user {arguments.sender_id}, queue"
        f" {sender_queue(arguments.sender_id)}",
        file=sys.stderr,
    )
    _hand_over(settings, arguments.sender_id, password, arguments.credentials_file)
    return 0


@_guarded
async def password(arguments: argparse.Namespace) -> int:
    settings, secret = await _change(senders.rotate_password, arguments.sender_id)
    print(f"new password of {arguments.sender_id} set", file=sys.stderr)
    _hand_over(settings, arguments.sender_id, secret, arguments.credentials_file)
    return 0


@_guarded
async def remove(arguments: argparse.Namespace) -> int:
    await _change(senders.remove_sender, arguments.sender_id)
    print(f"sender {arguments.sender_id} removed: its broker user and queue are gone", file=sys.stderr)
    return 0


@_guarded
async def listing(arguments: argparse.Namespace) -> int:
    async with archive_database() as (_, pool), pool.acquire() as conn:
        found = await PgSenderRegistry(conn).listing(removed=arguments.removed)
    print("sender_id\tname\tadded_at\tpassword_set_at\tremoved_at")
    for sender in found:
        removed = sender.removed_at.isoformat() if sender.removed_at else ""
        print(
            f"{sender.sender_id}\t{sender.name}\t{sender.added_at.isoformat()}"
            f"\t{sender.password_set_at.isoformat()}\t{removed}"
        )
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add this group's subcommands; each sets `run` to an async function of the arguments
    that returns the exit code."""
    credentials = {
        "type": Path,
        "default": None,
        "help": "write the sender's AMQP URL, with its password, to this file (mode 600) instead of stdout",
    }
    adding = commands.add_parser("add", help="a sender system: its broker user, permissions and queue")
    adding.add_argument("sender_id", type=_sender_id, help="1-63 of a-z 0-9 _ - (its broker user name)")
    adding.add_argument("--name", default="", help="the sender system's name, for the operators")
    adding.add_argument("--credentials-file", **credentials)
    adding.set_defaults(run=add)
    rotating = commands.add_parser("password", help="a new broker password for a sender system")
    rotating.add_argument("sender_id", type=_sender_id)
    rotating.add_argument("--credentials-file", **credentials)
    rotating.set_defaults(run=password)
    removing = commands.add_parser("remove", help="end a sender system's access: its user and queue go")
    removing.add_argument("sender_id", type=_sender_id)
    removing.set_defaults(run=remove)
    listed = commands.add_parser("list", help="the sender systems")
    listed.add_argument("--removed", action="store_true", help="removed ones too")
    listed.set_defaults(run=listing)
