"""`lre-senders webhook`: a sender system's webhook endpoint, its secret and its deliveries.

    lre-senders webhook set acme https://erp.acme.example/lre   # prints the secret once
    lre-senders webhook rotate-secret acme   # a new secret (printed once); the old one
                                             # signs beside it for a day
    lre-senders webhook remove acme          # pending deliveries fail with that reason
    lre-senders webhook log acme [--limit 20]
    lre-senders webhook ping acme            # one signed `{"type": "ping"}`, its answer

URLs are https:// (http:// only where `ARCHIVE_WEBHOOK_ALLOW_HTTP` is set) on addresses of
the internet (loopback, link-local and private ones only where `ARCHIVE_WEBHOOK_ALLOW_PRIVATE`
is set). The command reads the archive's settings (`ARCHIVE_*`), as the service does, and
needs the service's migrations applied (the service applies them at start). Secrets are
stored encrypted with `ARCHIVE_WEBHOOK_SECRETS_KEY`; before anything else the command checks
that key opens the stored ones (and encrypts any left in plain text), and stops if it does not.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from archive.adapters.webhook_secrets import WebhookSecretUnreadable
from archive.adapters.webhooks import DnsResolver, webhook_units
from archive.bootstrap import webhook_poster, webhook_secret_box, webhook_url_policy
from archive.domain.webhooks import UrlRefused
from archive.entrypoints.admin_database import archive_database
from archive.service_layer import webhooks
from archive.service_layer.webhooks import LoggedDelivery, WebhookUnits
from archive.settings import ArchiveSettings
from lre_shared.clock import now_utc


@asynccontextmanager
async def _archive() -> AsyncIterator[tuple[ArchiveSettings, WebhookUnits]]:
    async with archive_database() as (settings, pool):
        units = webhook_units(lambda: pool, webhook_secret_box(settings))
        try:
            await webhooks.seal_legacy_secrets(units=units)
        except WebhookSecretUnreadable as exc:
            # A secret written with a key the service cannot open would never sign.
            raise SystemExit(f"lre-senders webhook: {exc}") from None
        yield settings, units


def _sender(value: str) -> str:
    # A sender id is one word of the routing key `<sender id>.<event>`.
    if not value or any(c in value for c in ".#* ") or len(value) > 100:
        raise argparse.ArgumentTypeError("a sender id is one word without dots, spaces, # or *")
    return value


async def set_url(arguments: argparse.Namespace) -> int:
    async with _archive() as (settings, units):
        try:
            secret = await webhooks.set_endpoint(
                arguments.sender,
                arguments.url,
                units=units,
                policy=webhook_url_policy(settings),
                resolver=DnsResolver(),
                clock=now_utc,
            )
        except UrlRefused as exc:
            print(f"URL refused: {exc}", file=sys.stderr)
            return 2
    if secret is None:
        print(f"webhook of {arguments.sender} now {arguments.url}; its secret is unchanged", file=sys.stderr)
        return 0
    print(f"webhook of {arguments.sender}: {arguments.url}", file=sys.stderr)
    print("its signing secret (shown once; give it to the sender system):", file=sys.stderr)
    print(secret)
    return 0


async def remove(arguments: argparse.Namespace) -> int:
    async with _archive() as (_, units):
        removed = await webhooks.remove_endpoint(arguments.sender, units=units, clock=now_utc)
    if not removed:
        print(f"no webhook for sender {arguments.sender}", file=sys.stderr)
        return 1
    print(f"webhook of {arguments.sender} removed; its pending deliveries fail", file=sys.stderr)
    return 0


async def rotate(arguments: argparse.Namespace) -> int:
    async with _archive() as (settings, units):
        overlap = timedelta(hours=settings.webhook_rotation_overlap_hours)
        secret = await webhooks.rotate_secret(arguments.sender, units=units, overlap=overlap, clock=now_utc)
    if secret is None:
        print(f"no webhook for sender {arguments.sender}", file=sys.stderr)
        return 1
    print(
        f"new signing secret of {arguments.sender} (shown once); the old one still signs"
        f" beside it for {settings.webhook_rotation_overlap_hours:g} h:",
        file=sys.stderr,
    )
    print(secret)
    return 0


def _line(delivery: LoggedDelivery) -> str:
    if delivery.delivered_at is not None:
        state = f"delivered {delivery.delivered_at:%Y-%m-%d %H:%M:%S}"
    elif delivery.failed_at is not None:
        state = f"FAILED {delivery.failed_at:%Y-%m-%d %H:%M:%S}"
    elif delivery.next_attempt_at is not None:
        state = f"next attempt {delivery.next_attempt_at:%Y-%m-%d %H:%M:%S}"
    else:
        state = "pending"
    last = delivery.last_error or (f"HTTP {delivery.last_status}" if delivery.last_status else "-")
    return (
        f"{delivery.event_id}  {delivery.event:<16} attempts {delivery.attempts:<3}"
        f" last {last[:120]}  {state}"
    )


async def log(arguments: argparse.Namespace) -> int:
    async with _archive() as (_, units):
        deliveries = await webhooks.delivery_log(arguments.sender, arguments.limit, units=units)
    if not deliveries:
        print(f"no webhook delivery for sender {arguments.sender}", file=sys.stderr)
        return 0
    for delivery in deliveries:
        print(_line(delivery))
    return 0


async def ping(arguments: argparse.Namespace) -> int:
    async with _archive() as (settings, units):
        poster = webhook_poster(settings)
        try:
            attempt = await webhooks.ping(arguments.sender, units=units, poster=poster, clock=now_utc)
        finally:
            await poster.close()
    if attempt is None:
        print(f"no webhook for sender {arguments.sender}", file=sys.stderr)
        return 1
    if attempt.delivered:
        print(f"ping answered HTTP {attempt.status} in {attempt.seconds:.2f} s")
        return 0
    answer = attempt.error or f"HTTP {attempt.status} {attempt.excerpt}".rstrip()
    print(f"ping failed: {answer}")
    return 1


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """`webhook set | remove | rotate-secret | log | ping`."""
    group = commands.add_parser("webhook", help="sender systems' webhook endpoints and deliveries")
    actions = group.add_subparsers(dest="webhook_command", required=True)
    setting = actions.add_parser("set", help="register or move a sender's endpoint (secret printed once)")
    setting.add_argument("sender", type=_sender, help="the sender id")
    setting.add_argument("url", help="the endpoint, https://…")
    setting.set_defaults(run=set_url)
    removing = actions.add_parser("remove", help="remove a sender's endpoint")
    removing.add_argument("sender", type=_sender)
    removing.set_defaults(run=remove)
    rotating = actions.add_parser("rotate-secret", help="a new signing secret (printed once)")
    rotating.add_argument("sender", type=_sender)
    rotating.set_defaults(run=rotate)
    logging_ = actions.add_parser("log", help="the latest deliveries: event, attempts, outcome")
    logging_.add_argument("sender", type=_sender)
    logging_.add_argument("--limit", type=int, default=20, help="how many, newest first (default 20)")
    logging_.set_defaults(run=log)
    pinging = actions.add_parser("ping", help="send a signed test delivery and print the answer")
    pinging.add_argument("sender", type=_sender)
    pinging.set_defaults(run=ping)
