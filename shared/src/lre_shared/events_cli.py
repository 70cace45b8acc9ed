"""`lre-send events`: follow what becomes of a sender's letters, one JSON line an event.

    lre-send events --sender-id acme [--count N] [--idle SECONDS]

Reads the sender's durable queue `lre.sender.<sender id>` (`SenderClient.events`): each
`SenderEvent` (deposited, rejected, notice_sent, notice_failed, accepted, refused, unclaimed,
receipt_signed, downloaded, content_expired, proof_available) is printed as its JSON body on
one line of stdout, then acknowledged. It runs until interrupted, or until `--count` events
were printed, or `--idle` seconds passed without one (exit status 0 either way). Delivery is
at least once: an event printed but not acknowledged (the command killed at that moment)
comes again; `message_id` tells it is the same.
"""

from __future__ import annotations

import argparse
from contextlib import aclosing
from typing import Any, TextIO

from lre_shared.sender import SenderClient


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    events = commands.add_parser("events", parents=[common], help="follow the sender's letters' events")
    events.add_argument("--count", type=int, metavar="N", help="stop after N events")
    events.add_argument("--idle", type=float, metavar="SECONDS", help="stop after this long without one")


async def run(client: SenderClient, args: argparse.Namespace, out: TextIO) -> int:
    async with aclosing(client.events(limit=args.count, idle=args.idle)) as events:
        async for event in events:
            print(event.model_dump_json(), file=out, flush=True)
    return 0
