"""Dead-letter inspection and replay: `lre-dlq list <queue>`, `lre-dlq replay <queue>`.

A message lands in `<queue>.dlq` when it could not be parsed, failed for good
(`PermanentError`, reason in `x-lre-dead-letter-reason`) or used up the queue's delivery
limit (RabbitMQ's own `x-death`). Once the cause is fixed, replay moves it back to
`<queue>`: published to the default exchange with the queue's name as routing key
(persistent, confirmed, mandatory: a queue that is gone makes the replay fail, and the
message stays in the dead-letter queue), and only then acknowledged in the dead-letter
queue. A crash between the two leaves a copy in both queues; the consumer's inbox makes
the second handling a no-op, so replay is at-least-once and safe to repeat.

A replayed message is published by the replayer's own broker user (its AMQP `user_id`, which
the broker checks), so it loses its first publisher's; that one travels in the header
`x-lre-original-user-id` ("" when it had none), and a consumer believes the header only from a
user it trusts (`<SERVICE>_TRUSTED_PUBLISHERS`, where operators list the replayer's user): the
replayed message then acts for its first publisher, no one else. The original is the dead
letter's own `user_id` (the broker's dead-lettering keeps it), or, when a trusted user moved it
there (a consumer dead-lettering it names its own user and the original in the header), that
header; `--trusted-publisher` (or `LRE_DLQ_TRUSTED_PUBLISHERS`) names those users: the
services' own (the replayer's own user always is one).

Reading is by `basic.get` without acknowledgement on one channel: messages not taken stay
unacknowledged until the channel closes, and RabbitMQ then returns them in their order.
`list` takes nothing. Both read only the messages there when they start: a replayed
message that fails again comes back at the tail, and is not replayed twice in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from lre_shared.bus.declare import broker_user
from lre_shared.topology import DLQ_QUEUE_HEADER, DLQ_REASON_HEADER, ORIGINAL_USER_HEADER, dead_letter_queue

REPLAY_COUNT_HEADER = "x-lre-replay-count"
AMQP_URL_ENV = "LRE_DLQ_AMQP_URL"
TRUSTED_ENV = "LRE_DLQ_TRUSTED_PUBLISHERS"  # comma-separated: the services' broker users
# Set by the broker on each delivery of a quorum queue: it describes one delivery, not
# the message, so it is not carried over to the replayed copy.
_PER_DELIVERY_HEADERS = frozenset({"x-delivery-count"})


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    letter_id: str | None
    reason: str
    original_queue: str
    replays: int


def describe(message: AbstractIncomingMessage, queue: str) -> DeadLetter:
    headers = message.headers or {}
    return DeadLetter(
        message_id=message.message_id,
        letter_id=message.correlation_id,
        reason=_text(headers.get(DLQ_REASON_HEADER)) or _death_reason(headers) or "(no reason recorded)",
        original_queue=_text(headers.get(DLQ_QUEUE_HEADER)) or _death_queue(headers) or queue,
        replays=_int(headers.get(REPLAY_COUNT_HEADER)),
    )


async def list_dead_letters(amqp_url: str, queue: str) -> list[DeadLetter]:
    """What `<queue>.dlq` holds, oldest first; nothing is taken from it."""
    connection = await aio_pika.connect(amqp_url)
    async with connection, connection.channel() as channel:
        dlq = await channel.get_queue(dead_letter_queue(queue), ensure=True)
        return [describe(message, queue) async for message in _unacked(dlq)]


async def replay(
    amqp_url: str,
    queue: str,
    *,
    message_ids: Sequence[str] = (),
    replay_all: bool = False,
    trusted: Collection[str] = (),
) -> list[DeadLetter]:
    """Move dead letters of `queue` back to it: those with one of `message_ids`, or all;
    published as the URL's broker user, with the original publisher in a header (`trusted`:
    the users whose header naming it is believed, besides the replayer's own).

    Returns what was moved. Raises `ValueError` when asked for nothing.
    """
    replayer = broker_user(amqp_url)
    believed = {replayer, *trusted}
    if not replay_all and not message_ids:
        raise ValueError("say which messages to replay: --message-id ID (repeatable) or --all")
    wanted = set(message_ids)
    moved: list[DeadLetter] = []
    connection = await aio_pika.connect(amqp_url)
    async with (
        connection,
        connection.channel(publisher_confirms=True, on_return_raises=True) as channel,
    ):
        # Passive: replaying into a queue that does not exist is a mistake, not a reason to make one.
        await channel.get_queue(queue, ensure=True)
        dlq = await channel.get_queue(dead_letter_queue(queue), ensure=True)
        async for message in _unacked(dlq):
            if not replay_all and message.message_id not in wanted:
                continue
            await channel.default_exchange.publish(
                _replayed(message, replayer, original_user(message, believed)),
                routing_key=queue,
                mandatory=True,
            )
            await message.ack()
            moved.append(describe(message, queue))
    return moved


def original_user(message: AbstractIncomingMessage, trusted: Collection[str]) -> str:
    """The broker user that first published the dead letter ("" when none said): its own
    `user_id`, unless a trusted user moved it, naming the original in the header."""
    user = message.user_id or ""
    headers = message.headers or {}
    if user in trusted and ORIGINAL_USER_HEADER in headers:
        return _text(headers[ORIGINAL_USER_HEADER]) or ""
    return user


def _replayed(message: AbstractIncomingMessage, replayer: str, original: str) -> aio_pika.Message:
    headers: dict[str, Any] = {
        key: value for key, value in (message.headers or {}).items() if key not in _PER_DELIVERY_HEADERS
    }
    headers[REPLAY_COUNT_HEADER] = _int(headers.get(REPLAY_COUNT_HEADER)) + 1
    headers[ORIGINAL_USER_HEADER] = original
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=message.priority,
        correlation_id=message.correlation_id,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
        user_id=replayer,
    )


async def _unacked(queue: AbstractQueue) -> AsyncIterator[AbstractIncomingMessage]:
    """Each message the queue held when declared, once, left unacknowledged (see the
    module docstring)."""
    declared = queue.declaration_result
    count = (declared.message_count or 0) if declared is not None else 0
    for _ in range(count):
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            return
        yield message


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0


def _death_reason(headers: dict[str, Any]) -> str | None:
    # RabbitMQ's own dead-lettering, e.g. `delivery_limit` after too many failed deliveries.
    reason = _text(headers.get("x-first-death-reason"))
    return f"broker: {reason}" if reason else None


def _death_queue(headers: dict[str, Any]) -> str | None:
    return _text(headers.get("x-first-death-queue"))


# ---------------------------------------------------------------------------- command


def _print_table(letters: Sequence[DeadLetter]) -> None:
    print("message_id\tletter_id\toriginal_queue\treplays\treason")
    for letter in letters:
        reason = " ".join(letter.reason.split())
        print(f"{letter.message_id}\t{letter.letter_id}\t{letter.original_queue}\t{letter.replays}\t{reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lre-dlq", description="Inspect and replay the dead-letter queue <queue>.dlq of a queue."
    )
    parser.add_argument(
        "--amqp-url",
        default=os.environ.get(AMQP_URL_ENV),
        help=f"RabbitMQ URL (default: ${AMQP_URL_ENV}), amqp://user:password@host:port/vhost",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="show each dead-lettered message of <queue>")
    listing.add_argument("queue", help="the consumer's queue, e.g. signer.letter.deposited.v1")
    replaying = commands.add_parser("replay", help="move dead-lettered messages back to <queue>")
    replaying.add_argument("queue", help="the consumer's queue, e.g. signer.letter.deposited.v1")
    replaying.add_argument("--message-id", action="append", default=[], help="repeatable")
    replaying.add_argument("--all", action="store_true", help="every message of <queue>.dlq")
    replaying.add_argument(
        "--trusted-publisher",
        action="append",
        default=[user.strip() for user in os.environ.get(TRUSTED_ENV, "").split(",") if user.strip()],
        help="a broker user whose dead letters name their original publisher in a header, believed:"
        f" the services' users (default: ${TRUSTED_ENV}, comma-separated; the replayer's own always"
        " is); repeatable",
    )
    args = parser.parse_args(argv)
    if not args.amqp_url:
        parser.error(f"give --amqp-url or set {AMQP_URL_ENV}")
    if args.command == "replay" and not args.all and not args.message_id:
        parser.error("replay: give --message-id ID (repeatable) or --all")
    try:
        return _run(args)
    except (aio_pika.exceptions.ChannelNotFoundEntity, aio_pika.exceptions.ChannelClosed) as exc:
        dead = dead_letter_queue(args.queue)
        print(f"lre-dlq: no queue {args.queue} or {dead} on this virtual host ({exc})", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "list":
        _print_table(asyncio.run(list_dead_letters(args.amqp_url, args.queue)))
        return 0
    moved = asyncio.run(
        replay(
            args.amqp_url,
            args.queue,
            message_ids=args.message_id,
            replay_all=args.all,
            trusted=args.trusted_publisher,
        )
    )
    _print_table(moved)
    missing = set(args.message_id) - {letter.message_id for letter in moved}
    if missing:
        print(f"not in {dead_letter_queue(args.queue)}: {', '.join(sorted(missing))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
