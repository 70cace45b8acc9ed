"""`lre-senders`: the operator's command for sender systems.

    lre-senders add acme --name "ACME SAS"     # its broker user (password shown once) and queue
    lre-senders webhook set acme https://…     # its webhook (secret shown once)
    lre-senders key issue acme                 # an HTTP API key (shown once)
    lre-senders consent list acme              # its consent registry

Each group of subcommands lives in its own module and registers itself here. The command
reads the archive's settings (`ARCHIVE_*`), as the service does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from archive.entrypoints import api_keys_admin, consents_admin, senders_admin, webhooks_admin

GROUPS = (senders_admin, webhooks_admin, api_keys_admin, consents_admin)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="lre-senders", description="Sender systems: users, webhooks, keys, consent."
    )
    commands = top.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    code: int = asyncio.run(arguments.run(arguments))
    return code


def run() -> None:
    sys.exit(main())
