"""`lre-senders key`: sender systems' API keys for the archive's HTTP API.

    lre-senders key issue acme [--label erp]   # prints the key once: lre_<prefix>_<secret>
    lre-senders key list acme                  # id, prefix, label, created, last used, revoked
    lre-senders key revoke <key id>            # refused at once, for good

Only the key's SHA-256 is kept: a lost key cannot be shown again; issue another and revoke
the lost one. The command reads the archive's settings (`ARCHIVE_DATABASE_URL`), as the
service does, and needs the service's migrations applied (the service applies them at start).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from archive.adapters.api_keys import PgApiKeys
from archive.entrypoints.admin_database import archive_database
from archive.service_layer.api_keys import issue_key

R = TypeVar("R")


async def _on_keys(use: Callable[[PgApiKeys], Awaitable[R]]) -> R:
    """`use` the API keys table, on a pool of its own closed afterwards."""
    async with archive_database() as (_, pool):
        return await use(PgApiKeys(lambda: pool))


async def issue(arguments: argparse.Namespace) -> int:
    issued = await _on_keys(lambda keys: issue_key(keys, arguments.sender, arguments.label))
    print(f"key id: {issued.key_id}", file=sys.stderr)
    print("the key (shown once, only its hash is kept):", file=sys.stderr)
    print(issued.key)
    return 0


async def listing(arguments: argparse.Namespace) -> int:
    keys = await _on_keys(lambda table: table.of_sender(arguments.sender))
    if not keys:
        print(f"no API key for sender {arguments.sender}", file=sys.stderr)
        return 0
    for key in keys:
        state = "live" if key.revoked_at is None else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        used = "never used" if key.last_used_at is None else f"last used {key.last_used_at:%Y-%m-%d %H:%M}"
        print(
            f"{key.key_id}  lre_{key.prefix}_…  {key.label or '-'}  created {key.created_at:%Y-%m-%d %H:%M}"
            f"  {used}  {state}"
        )
    return 0


async def revoke(arguments: argparse.Namespace) -> int:
    done = await _on_keys(lambda keys: keys.revoke(arguments.key_id))
    if not done:
        print(f"no live key {arguments.key_id} (unknown, or revoked already)", file=sys.stderr)
        return 1
    print(f"key {arguments.key_id} revoked", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """`key issue | list | revoke`."""
    group = commands.add_parser("key", help="sender systems' API keys for the HTTP API")
    keys = group.add_subparsers(dest="key_command", required=True)
    issuing = keys.add_parser("issue", help="issue a key to a sender (printed once)")
    issuing.add_argument("sender", help="the sender id")
    issuing.add_argument("--label", help="what the key is for, e.g. the sender's system")
    issuing.set_defaults(run=issue)
    listed = keys.add_parser("list", help="a sender's keys (never the keys themselves)")
    listed.add_argument("sender", help="the sender id")
    listed.set_defaults(run=listing)
    revoking = keys.add_parser("revoke", help="revoke a key at once")
    revoking.add_argument("key_id", type=UUID, help="the key id, from `issue` or `list`")
    revoking.set_defaults(run=revoke)
