"""An email as the notifier writes it: the text and HTML parts, our own headers (List-Unsubscribe
on reminders), and any attachments (a fax's pages, through an email-to-fax gateway)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    key: UUID | None = None  # the notice's identity on its channel (delivery_key): its Message-ID


def message_id(key: UUID, domain: str) -> str:
    """RFC 5322 §3.6.4: `<id-left@id-right>`, unique to the message and the same on every
    copy of it; the right part is the platform's mail domain."""
    return f"<{key}@{domain}>"
