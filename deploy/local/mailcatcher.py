"""A local SMTP mail catcher built on aiosmtpd.

Every message is accepted (any sender, any recipient, nothing is relayed) and kept:

* in memory, as :class:`email.message.EmailMessage` objects in a :class:`MailStore`
  (thread-safe; :meth:`MailStore.wait_for` / :meth:`MailStore.wait_for_async`), and
* optionally as one ``.eml`` file per message in a directory, named
  ``<UTC timestamp>-<uuid>.eml`` so that ``ls`` shows them in arrival order.

Like a delivering MTA, two trace headers are prepended to the received bytes:
``Return-Path: <envelope sender>`` and ``X-Envelope-To: <envelope recipients>`` (so Bcc
recipients are visible); the rest of the message is byte-for-byte what the client sent.

In-process use in tests::

    store = MailStore()  # or MailStore(tmp_path / "mail") to also get .eml files
    port = free_port()  # aiosmtpd's Controller cannot use port=0
    controller = Controller(MailCatcherHandler(store), hostname="127.0.0.1", port=port)
    controller.start()
    ...  # send mail to 127.0.0.1:port
    msg = store.wait_for(lambda m: m["Subject"] == "Hello", timeout=5)
    controller.stop()

CLI (runs until SIGTERM / SIGINT)::

    python -m deploy.local.mailcatcher --host 127.0.0.1 --port 2525 --dir DIR
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

log = logging.getLogger("deploy.local.mailcatcher")

DATA_SIZE_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class CaughtMail:
    """One received message with its SMTP envelope."""

    message: EmailMessage
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes  # the bytes as delivered (trace headers + message as sent)
    received_at: datetime
    path: Path | None  # the .eml file, if the store writes files


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host`` (for ``Controller(..., port=...)``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _eml_name(received_at: datetime) -> str:
    stamp = received_at.strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{uuid.uuid4().hex}.eml"


def _header_safe(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


class MailStore:
    """Thread-safe collection of received messages, optionally mirrored to ``.eml``
    files in ``directory``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self._mails: list[CaughtMail] = []
        self._cond = threading.Condition()
        self._refused: set[str] = set()

    def refuse(self, address: str) -> None:
        """Refuse ``address`` for good from now on (``550`` at RCPT TO), as a mailbox that does
        not exist: what a sender's permanent failure looks like."""
        with self._cond:
            self._refused.add(address.lower())

    def refuses(self, address: str) -> bool:
        with self._cond:
            return address.lower() in self._refused

    def add(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> CaughtMail:
        """Store one message (``raw`` is the DATA payload as received)."""
        received_at = datetime.now(UTC)
        trace = (
            f"Return-Path: <{_header_safe(mail_from)}>\r\n"
            f"X-Envelope-To: {_header_safe(', '.join(rcpt_tos))}\r\n"
        ).encode("utf-8", errors="surrogateescape")
        delivered = trace + raw
        message = BytesParser(policy=policy.default).parsebytes(delivered)
        assert isinstance(message, EmailMessage)  # guaranteed by policy.default
        path: Path | None = None
        if self.directory is not None:
            path = self.directory / _eml_name(received_at)
            tmp = path.with_name("." + path.name + ".tmp")
            tmp.write_bytes(delivered)
            os.replace(tmp, path)  # readers never see a half-written file
        mail = CaughtMail(
            message=message,
            mail_from=mail_from,
            rcpt_tos=tuple(rcpt_tos),
            raw=delivered,
            received_at=received_at,
            path=path,
        )
        with self._cond:
            self._mails.append(mail)
            self._cond.notify_all()
        return mail

    @property
    def mails(self) -> list[CaughtMail]:
        with self._cond:
            return list(self._mails)

    @property
    def messages(self) -> list[EmailMessage]:
        with self._cond:
            return [m.message for m in self._mails]

    def clear(self) -> None:
        """Forget the in-memory messages (files on disk are kept)."""
        with self._cond:
            self._mails.clear()

    def wait_for_mail(self, predicate: Callable[[CaughtMail], bool], timeout: float = 10.0) -> CaughtMail:
        """Block until a stored mail (already received or arriving later) matches;
        return the first match in arrival order.  Raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        checked = 0
        with self._cond:
            while True:
                for mail in self._mails[checked:]:
                    if predicate(mail):
                        return mail
                checked = len(self._mails)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching message within {timeout}s ({checked} received)")
                self._cond.wait(remaining)

    def wait_for(self, predicate: Callable[[EmailMessage], bool], timeout: float = 10.0) -> EmailMessage:
        """Like :meth:`wait_for_mail` but the predicate sees the ``EmailMessage``."""
        return self.wait_for_mail(lambda m: predicate(m.message), timeout).message

    async def wait_for_async(
        self, predicate: Callable[[EmailMessage], bool], timeout: float = 10.0
    ) -> EmailMessage:
        """Awaitable :meth:`wait_for` (waits in a worker thread, never blocks the loop)."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout)


class MailCatcherHandler:
    """aiosmtpd handler that accepts every message and puts it in a :class:`MailStore`,
    except to the addresses the store refuses (:meth:`MailStore.refuse`)."""

    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.store.refuses(address):
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:
            content = envelope.content
            if isinstance(content, str):
                raw = content.encode("utf-8", errors="surrogateescape")
            else:
                raw = content or b""
        mail_from = envelope.mail_from or ""
        mail = self.store.add(raw, mail_from, list(envelope.rcpt_tos))
        log.info(
            "caught mail from=%s to=%s subject=%r file=%s",
            mail.mail_from,
            ",".join(mail.rcpt_tos),
            mail.message["Subject"],
            mail.path,
        )
        return "250 Message accepted for delivery"


def accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """aiosmtpd authenticator accepting every AUTH attempt (for clients that insist on
    logging in)."""
    return AuthResult(success=True)


def make_smtp(
    handler: MailCatcherHandler,
    *,
    hostname: str | None = None,
    accept_auth: bool = False,
    loop: asyncio.AbstractEventLoop | None = None,
) -> SMTP:
    if accept_auth:
        return SMTP(
            handler,
            hostname=hostname,
            enable_SMTPUTF8=True,
            data_size_limit=DATA_SIZE_LIMIT,
            authenticator=accept_any_login,
            auth_require_tls=False,
            loop=loop,
        )
    return SMTP(
        handler,
        hostname=hostname,
        enable_SMTPUTF8=True,
        data_size_limit=DATA_SIZE_LIMIT,
        loop=loop,
    )


async def serve(host: str, port: int, directory: Path, accept_auth: bool = False) -> None:
    """Run the catcher until SIGTERM or SIGINT."""
    store = MailStore(directory)
    handler = MailCatcherHandler(store)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: make_smtp(handler, accept_auth=accept_auth, loop=loop), host, port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = ", ".join(str(s.getsockname()) for s in server.sockets)
    log.info("mailcatcher listening on %s, writing .eml files to %s", bound, directory)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        log.info("mailcatcher stopped (%d messages this run)", len(store.mails))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.mailcatcher")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", required=True, type=Path, help="directory for .eml files")
    parser.add_argument(
        "--accept-auth",
        action="store_true",
        help="advertise AUTH (without TLS) and accept any credentials",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # per-command chatter
    asyncio.run(serve(args.host, args.port, args.dir, args.accept_auth))
    return 0


if __name__ == "__main__":
    sys.exit(main())
