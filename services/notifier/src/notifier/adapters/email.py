"""Email through SMTP with aiosmtplib."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiosmtplib


class PermanentDeliveryError(Exception):
    """The server refused the message for good (5xx): retrying will not help."""


class TransientDeliveryError(Exception):
    """The server could not take the message now (4xx, timeout, dropped connection)."""


class Mailer(Protocol):
    async def send(self, to: str, subject: str, text: str, html: str) -> str: ...


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    starttls: bool
    username: str | None
    password: str | None
    timeout: float

    async def send(self, to: str, subject: str, text: str, html: str) -> str:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        domain = self.sender.rpartition("@")[2] or None
        message_id = make_msgid(domain=domain)
        message["Message-ID"] = message_id
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                start_tls=self.starttls,
                username=self.username,
                password=self.password,
                timeout=self.timeout,
            )
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
            raise TransientDeliveryError(f"SMTP: {exc!r}") from exc
        return message_id
