"""Email throughput of the notifier's delivery path against a plain aiosmtplib loop.

    uv run python bench/notify.py [--emails 5000] [--smtp HOST:PORT] [--pg-url URL]

Project path: for each notice, `handlers.send_notice` as the bus calls it, in one
PostgreSQL transaction a notice (what the consumer does): Jinja2 rendering of the text and
HTML parts, the token bucket, the SMTP connection pool (`SmtpMailer`, its default 4
connections), the attempt row and the NoticeSent outbox row; as many notices in flight as
the consumer's prefetch (64). Raw baseline: the same number of emails of the same size,
built once, sent by `aiosmtplib` one after the other on one connection.

The SMTP server is an in-process aiosmtpd that accepts and discards (or --smtp). The run
makes a database `lre_bench_notify_<random>` and drops it at the end. Last line:
`RESULT notify_ratio=<project rate / raw rate>`.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import time
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import aiosmtplib
import asyncpg
from aiosmtpd.controller import Controller

from lre_shared.bus import Transaction
from lre_shared.contracts import NoticeChannel, SendNotice
from lre_shared.db import create_pool, migrate
from notifier.adapters.attempts import PgAttemptLog
from notifier.adapters.channels import EmailChannel, RateLimited
from notifier.adapters.email import SmtpMailer
from notifier.adapters.postgres import unit_of_work
from notifier.adapters.templates import render_notice
from notifier.domain.rate import TokenBucket
from notifier.service_layer.handlers import send_notice

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "notifier" / "src" / "notifier" / "migrations"
MAIL_FROM = "notifications@lre.example"
PREFETCH = 64


class Discard:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def project(host: str, port: int, pool: asyncpg.Pool, url: str, emails: int) -> float:
    mailer = SmtpMailer(host, port, MAIL_FROM, False, None, None, 30.0)
    email = RateLimited(EmailChannel(mailer), TokenBucket(1e6, 1e6))
    attempts = PgAttemptLog(url)
    deadline = date.today() + timedelta(days=15)
    slots = asyncio.Semaphore(PREFETCH)

    async def one(index: int) -> None:
        command = SendNotice(
            correlation_id=uuid4(),
            item_number=f"{index:012d}",
            address=f"destinataire-{index}@exemple.example",
            deadline=deadline,
        )
        async with slots, pool.acquire() as conn, conn.transaction():
            await send_notice(
                command,
                unit_of_work(Transaction(conn)),
                channels={NoticeChannel.email: email},
                attempts=attempts,
                pickup_url="https://lre.example/",
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(emails)))
    elapsed = time.perf_counter() - started
    await mailer.close()
    await attempts.close()
    return emails / elapsed


async def raw(host: str, port: int, emails: int) -> float:
    notice = render_notice("000000000001", "https://lre.example/", date.today() + timedelta(days=15))
    message = EmailMessage()
    message["From"], message["Subject"] = MAIL_FROM, notice.subject
    message.set_content(notice.text)
    message.add_alternative(notice.html, subtype="html")
    started = time.perf_counter()
    async with aiosmtplib.SMTP(hostname=host, port=port, start_tls=False) as smtp:
        for index in range(emails):
            del message["To"]
            message["To"] = f"destinataire-{index}@exemple.example"
            await smtp.send_message(message)
    return emails / (time.perf_counter() - started)


async def amain(options: argparse.Namespace) -> float:
    name = f"lre_bench_notify_{secrets.token_hex(4)}"
    url = with_database(options.pg_url, name)
    await migrate(url, MIGRATIONS)
    pool = await create_pool(url, PREFETCH // 4)
    try:
        host, _, port = options.smtp.rpartition(":")
        raw_rate = await raw(host, int(port), options.emails)
        print(f"raw      {raw_rate:8.0f} emails/s", flush=True)
        project_rate = await project(host, int(port), pool, url, options.emails)
        print(f"project  {project_rate:8.0f} emails/s", flush=True)
    finally:
        await pool.close()
        admin = await asyncpg.connect(with_database(options.pg_url, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    return project_rate / raw_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=5000)
    parser.add_argument("--smtp", default=None, help="HOST:PORT of an SMTP server (default: in-process)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    options = parser.parse_args()
    controller = None
    if options.smtp is None:
        port = free_port()
        controller = Controller(Discard(), hostname="127.0.0.1", port=port)
        controller.start()
        options.smtp = f"127.0.0.1:{port}"
    try:
        ratio = asyncio.run(amain(options))
    finally:
        if controller is not None:
            controller.stop()
    print(f"RESULT notify_ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
