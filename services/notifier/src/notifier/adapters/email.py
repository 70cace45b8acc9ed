"""Email through SMTP with aiosmtplib: a small pool of reused, authenticated connections.

- STARTTLS is required when configured: a server that does not offer it gets nothing.
- Each message is multipart text + HTML, with its own Message-ID in our domain, and a
  DKIM signature when a key is configured: a signed notice is the recipient's best answer
  to "is this a phishing email?". An email with a `key` (a notice: `delivery_key`) has the
  Message-ID made of it, the same on every send of that notice: a resend after a crash
  between the server's acceptance and our record of it is the same message (RFC 5322).
- Connections are kept open and reused; one found closed by the server is replaced once.
- SMTP 5xx is permanent; 4xx, timeouts and dropped connections are transient.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.charset import QP, Charset
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formatdate, make_msgid

import aiosmtplib
import dkim  # type: ignore[import-untyped]

from notifier.domain.delivery import PermanentDeliveryError, TransientDeliveryError
from notifier.domain.email import Attachment, Email, message_id
from notifier.service_layer.ports import Mailer

__all__ = [
    "Attachment",
    "DkimKey",
    "Email",
    "Mailer",
    "PermanentDeliveryError",
    "SmtpMailer",
    "TransientDeliveryError",
]

# CRLF on the wire; no folding of our own headers (all well under RFC 5322's 998 limit).
WIRE = compat32.clone(linesep="\r\n", max_line_length=None)
# Quoted-printable keeps the text readable in the raw message (and to spam filters).
UTF8 = Charset("utf-8")
UTF8.header_encoding = QP
UTF8.body_encoding = QP

# RFC 6376 §5.4 and RFC 8058 §4: what the signature covers, List-Unsubscribe included.
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)


@dataclass(frozen=True)
class DkimKey:
    selector: str
    domain: str
    private_key_pem: bytes = field(repr=False)


@dataclass
class SmtpMailer:
    host: str
    port: int
    sender: str
    starttls: bool
    username: str | None
    password: str | None = field(repr=False)
    timeout: float
    pool_size: int = 4
    dkim_key: DkimKey | None = None
    tls_context: ssl.SSLContext | None = None
    _idle: list[aiosmtplib.SMTP] = field(default_factory=list, init=False, repr=False)
    _slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    def compose(self, email: Email) -> tuple[str, bytes]:
        """The message as sent on the wire (CRLF lines), signed when a key is configured.

        Built with the email package's classic MIME classes: several times cheaper than
        `EmailMessage`, which matters at thousands of notices a minute.
        """
        body = MIMEMultipart("alternative")
        body.attach(MIMEText(email.text, "plain", UTF8))  # type: ignore[arg-type]
        if email.html is not None:
            body.attach(MIMEText(email.html, "html", UTF8))  # type: ignore[arg-type]
        message: MIMEMultipart = body
        if email.attachments:
            message = MIMEMultipart("mixed")
            message.attach(body)
            for attachment in email.attachments:
                part = MIMEApplication(attachment.content, attachment.subtype)
                part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
                message.attach(part)
        domain = self.sender.rpartition("@")[2]
        if email.key is None:
            identity = make_msgid(domain=domain or None)
        else:
            identity = message_id(email.key, domain or "localhost")
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = Header(email.subject, UTF8, header_name="Subject").encode()
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = identity
        for name, value in email.headers:
            message[name] = value
        raw = message.as_bytes(policy=WIRE)
        if self.dkim_key is not None:
            signature: bytes = dkim.sign(
                raw,
                self.dkim_key.selector.encode(),
                self.dkim_key.domain.encode(),
                self.dkim_key.private_key_pem,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[h for h in SIGNED_HEADERS if message[h.decode()] is not None],
            )
            raw = signature + raw
        return identity, raw

    async def send(self, email: Email) -> str:
        identity, raw = self.compose(email)
        try:
            await self._deliver([email.to], raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # Every recipient refused: permanent if the server said so (5xx) for all of them.
            codes = [refusal.code for refusal in exc.recipients]
            reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentDeliveryError(f"SMTP recipient refused: {reasons}") from exc
            raise TransientDeliveryError(f"SMTP recipient refused for now: {reasons}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
            raise TransientDeliveryError(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientDeliveryError(f"SMTP {self.host}:{self.port}: {exc!r}") from exc
        return identity

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for smtp in idle:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()

    # ------------------------------------------------------------------ the pool

    async def _deliver(self, recipients: Sequence[str], raw: bytes) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.pool_size)
        async with self._slots:
            smtp = self._idle.pop() if self._idle else None
            try:
                if smtp is None:
                    smtp = await self._connect()
                    await smtp.sendmail(self.sender, list(recipients), raw)
                else:
                    try:
                        await smtp.sendmail(self.sender, list(recipients), raw)
                    except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                        # The server closed an idle connection: open a fresh one, once.
                        smtp.close()
                        smtp = await self._connect()
                        await smtp.sendmail(self.sender, list(recipients), raw)
            except BaseException:
                if smtp is not None:
                    smtp.close()  # a connection in an unknown state is never reused
                raise
            self._idle.append(smtp)

    async def _connect(self) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            start_tls=self.starttls,  # True: refuse a server without STARTTLS
            tls_context=self.tls_context if self.starttls else None,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
        )
        await smtp.connect()
        return smtp
