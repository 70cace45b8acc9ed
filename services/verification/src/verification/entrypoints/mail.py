"""The desk's inbound SMTP server: identity documents sent by email, and faxes that a
fax-to-email gateway turns into email to the same address.

Mail is taken only for the desk's own address (never relayed). The one case reference
(LRE-XXXXXX) in the subject, or else in the text, files the attachments under their case; a
message naming no open case goes to the triage list. Attachments that are not PDF, JPEG or
PNG, or too large, are refused with the rule in the SMTP answer; when nothing of a message
could be taken, the message is refused as a whole (a 5xx answer, which the sender's server
returns to the sender), and nothing of it is kept.

A mail naming several references is refused (550) without saying whether any is open. A
mail that cannot be read as sent (an unknown character set, a NUL, a control character in a
file name) is refused for good (554, never 4xx: sending it again would not help). Every
answer is one line of printable ASCII, whatever names a mail carries (RFC 5321 4.2).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

import asyncpg
from aiosmtpd.smtp import SMTP, Envelope, Session

from lre_shared.clock import Clock
from verification.service_layer.cases import (
    Attachment,
    InboundMessage,
    Malformed,
    MessageRefused,
    SeveralCases,
    receive,
)
from verification.service_layer.ports import DocumentVault, UnitsOfWork

log = logging.getLogger(__name__)
MAX_ATTACHMENTS = 10
MAX_ANSWER = 500  # characters of an SMTP answer, code included (RFC 5321 4.5.3.1.5 allows 512)


def answer(text: str) -> str:
    """An SMTP answer as one line of printable ASCII: letters lose their accents, what has no
    ASCII form becomes "?", and no CR or LF from a sender's file name can start a line."""
    decomposed = unicodedata.normalize("NFKD", text[: MAX_ANSWER * 2])
    ascii_text = "".join(
        c if " " <= c <= "~" else "" if unicodedata.combining(c) else "?" for c in decomposed
    )
    return ascii_text[:MAX_ANSWER]


def _printable(value: str, limit: int = 40) -> str:
    return "".join(c if " " < c <= "~" else "?" for c in value[:limit])


def parse(raw: bytes, mail_from: str, fax_senders: frozenset[str]) -> InboundMessage:
    """The mail as the desk files it; raises MessageRefused when it cannot be taken.

    Takes a while on a large mail: called in a worker thread."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    parts = list(itertools.islice(message.iter_attachments(), MAX_ATTACHMENTS + 1))
    if len(parts) > MAX_ATTACHMENTS:
        raise MessageRefused(f"at most {MAX_ATTACHMENTS} documents per mail: send the others in another mail")
    body = message.get_body(preferencelist=("plain", "html"))
    try:
        text = body.get_content() if body is not None else ""
    except LookupError:
        assert body is not None
        charset = _printable(body.get_content_charset() or "")
        raise Malformed(f"its text is in an unknown character set ({charset}); send it in UTF-8") from None
    attachments = []
    for part in parts:
        # The bytes as sent, whatever charset a part declares: documents are told by their bytes.
        content = part.get_payload(decode=True)
        data = content if isinstance(content, bytes) else b""
        attachments.append(Attachment(part.get_filename() or "document", data))
    sender = parseaddr(str(message.get("From", "")))[1] or mail_from
    domain = sender.rpartition("@")[2].casefold()
    channel: Literal["email", "fax"] = (
        "fax" if sender.casefold() in fax_senders or domain in fax_senders else "email"
    )
    return InboundMessage(
        channel=channel,
        sender=sender,
        subject=str(message.get("Subject", "")),
        text=str(text),
        attachments=attachments,
    )


class InboundMailHandler:
    def __init__(
        self,
        transactions: UnitsOfWork,
        vault: DocumentVault,
        *,
        address: str,
        max_bytes: int,
        fax_senders: frozenset[str],
        clock: Clock,
    ) -> None:
        self._transactions = transactions
        self._vault = vault
        self._address = address.casefold()
        self._max_bytes = max_bytes
        self._fax_senders = fax_senders
        self._clock = clock

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.casefold() != self._address:
            return "550 5.1.1 no such mailbox here: identity documents go to " + self._address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        try:
            # Parsing a mail of many megabytes takes seconds: off the event loop, the desk
            # answers its agents and other senders meanwhile.
            message = await asyncio.to_thread(parse, data, str(envelope.mail_from or ""), self._fax_senders)
        except MessageRefused as exc:
            return self._refusal(exc)
        except Exception:
            log.exception("inbound mail unreadable; refused")
            return "554 5.6.0 malformed mail: its MIME structure cannot be read"
        try:
            outcome = await receive(
                self._transactions, self._vault, message, max_bytes=self._max_bytes, now=self._clock()
            )
        except MessageRefused as exc:
            return self._refusal(exc)
        except (asyncpg.DataError, UnicodeError):
            # Text the checks let through and PostgreSQL refuses would be refused again.
            log.exception("inbound %s holds text that cannot be stored; refused", message.channel)
            return "554 5.6.0 malformed mail: it holds text that cannot be stored"
        except Exception:
            # The store or the database is away: the sender's server keeps the mail and tries
            # again (a temporary answer), rather than bouncing documents we could have taken.
            log.exception("inbound %s not filed; the sender is asked to try again", message.channel)
            return "451 4.3.0 temporary failure, please try again later"
        log.info(
            "inbound %s filed",
            message.channel,
            extra={"case_id": str(outcome.case_id), "triage_id": str(outcome.triage_id)},
        )
        refusals = "; ".join(outcome.refused)
        if outcome.refused and not outcome.accepted:
            return answer(f"550 5.7.1 refused: {refusals}")
        where = outcome.reference or "review"
        taken = f"250 OK {len(outcome.accepted)} document(s) filed for {where}"
        return answer(f"{taken}; refused: {refusals}" if refusals else taken)

    @staticmethod
    def _refusal(refused: MessageRefused) -> str:
        if isinstance(refused, SeveralCases):
            # Nothing about which reference is open: the answer is the same for any of them.
            return answer(
                "550 5.7.1 one reference per mail: this mail names several case references;"
                " send each case's documents in a mail of its own"
            )
        if isinstance(refused, Malformed):
            return answer(f"554 5.6.0 malformed mail: {refused.reason}")
        return answer(f"550 5.7.1 {refused.reason}")


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


@dataclass(eq=False)
class InboundSmtpServer:
    """aiosmtpd's SMTP protocol served on the service's own event loop (not in a thread, as
    aiosmtpd's Controller would), so the handler shares the database pool."""

    handler: InboundMailHandler
    host: str
    port: int  # once started, the port bound (0 asks for any free one)
    data_limit: int
    tls: ssl.SSLContext | None = None
    require_tls: bool = False
    _server: asyncio.Server | None = field(default=None, init=False, repr=False)

    def _protocol(self) -> SMTP:
        # Identity documents are personal data: STARTTLS is offered whenever a certificate is
        # configured, and may be required.
        return SMTP(
            self.handler,
            data_size_limit=self.data_limit,
            hostname="lre-verification",
            ident="LRE desk",
            tls_context=self.tls,
            require_starttls=self.require_tls,
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("inbound SMTP listening", extra={"port": self.port})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
