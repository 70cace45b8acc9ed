"""The notifier's contracts: notices, reminders, one-time codes and case confirmations it
sends to recipients, and what became of each."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import EmailStr, Field

from lre_shared.contracts.base import (
    CodeChannel,
    ItemNumber,
    Language,
    Message,
    NoticeChannel,
    NoticeKind,
    UtcDatetime,
)
from lre_shared.contracts.verification import DocumentChannel, RequiredDocument
from lre_shared.topology import Service, commands_exchange, events_exchange

# Where a code or a case confirmation goes: an email address, or a mobile number for an SMS.
PhoneOrEmail = Annotated[
    str, Field(min_length=3, max_length=320, description="Email address or E.164 number.")
]


class SendNotice(Message):
    """Tell a recipient that a letter waits (CPCE R.53-3: never the sender's name)."""

    exchange: ClassVar[str] = commands_exchange(Service.notifier)
    routing_key: ClassVar[str] = "send_notice.v1"

    item_number: ItemNumber
    channel: NoticeChannel = NoticeChannel.email
    address: EmailStr
    deadline: date = Field(description="Last day (Europe/Paris) to accept or refuse.")
    language: Language = "fr"
    kind: NoticeKind = NoticeKind.notice
    phone: str | None = Field(
        default=None, description="E.164 number for the sms and voice channels, e.g. +33612345678."
    )
    fax: str | None = Field(default=None, description="E.164 fax number for the fax channel.")
    fallback: tuple[NoticeChannel, ...] = Field(
        default=(),
        description="Channels to try, in this order, when `channel` fails for good (e.g. email → sms).",
    )
    landline: str | None = Field(
        default=None, description="E.164 landline, called on the voice channel when there is no `phone`."
    )
    channels: tuple[NoticeChannel, ...] = Field(
        default=(),
        description="Every channel the letter's notices go on, email first (lre_shared.notices):"
        " reminders go on the same ones.",
    )
    round_id: UUID | None = Field(
        default=None,
        description="Shared by the commands of one notice or reminder, one per channel: each channel"
        " is used once a round, and a fallback skips the channels another command of it used.",
    )


class NotifierEvent(Message):
    """What the notifier publishes: what became of a notice or a code it was asked to send."""

    exchange: ClassVar[str] = events_exchange(Service.notifier)


class NoticeSent(NotifierEvent):
    routing_key: ClassVar[str] = "notice.sent.v1"

    notice_id: UUID = Field(description="message_id of the SendNotice this answers.")
    item_number: str
    channel: NoticeChannel
    address: str
    sent_at: UtcDatetime
    provider_message_id: str | None = None
    kind: NoticeKind = NoticeKind.notice


class NoticeDelivered(NotifierEvent):
    """The provider confirmed delivery to the recipient's device (SMS, call answered)."""

    routing_key: ClassVar[str] = "notice.delivered.v1"

    notice_id: UUID
    channel: NoticeChannel
    provider_message_id: str
    status: str = Field(description="The provider's final status, e.g. delivered, completed.")
    delivered_at: UtcDatetime


class NoticeFailed(NotifierEvent):
    routing_key: ClassVar[str] = "notice.failed.v1"

    notice_id: UUID
    item_number: str
    channel: NoticeChannel
    address: str
    reason: str
    permanent: bool
    kind: NoticeKind = NoticeKind.notice
    attempts: tuple[str, ...] = Field(
        default=(), description="Every channel tried and why it failed, in order."
    )


class SendCode(Message):
    """Send a one-time signing code to a recipient whose identity was verified.

    Codes go by email or SMS only; the message names neither the sender nor the subject.
    """

    exchange: ClassVar[str] = commands_exchange(Service.notifier)
    routing_key: ClassVar[str] = "send_code.v1"

    channel: CodeChannel
    address: PhoneOrEmail
    code: str = Field(pattern=r"^[0-9]{6,8}$")
    expires_at: UtcDatetime
    language: Language = "fr"


class CodeSent(NotifierEvent):
    routing_key: ClassVar[str] = "code.sent.v1"

    code_id: UUID = Field(description="message_id of the SendCode this answers.")
    channel: CodeChannel
    sent_at: UtcDatetime
    provider_message_id: str | None = None


class CodeFailed(NotifierEvent):
    routing_key: ClassVar[str] = "code.failed.v1"

    code_id: UUID
    channel: CodeChannel
    reason: str


class SendCaseConfirmation(Message):
    """Confirm to the recipient, by the channel chosen for the code, that their verification
    case is open: its reference, how the documents are to be sent and which ones the sender's
    policy requires. Like a code, it names neither the sender nor the subject (CPCE R.53-3)."""

    exchange: ClassVar[str] = commands_exchange(Service.notifier)
    routing_key: ClassVar[str] = "send_case_confirmation.v1"

    channel: CodeChannel
    address: PhoneOrEmail
    reference: str = Field(min_length=1, max_length=40, description="The case reference, e.g. LRE-7K3M9Q.")
    document_channel: DocumentChannel
    document_address: str | None = Field(
        default=None,
        description="Where the documents go: the desk's email address, MMS or fax number; none for upload.",
    )
    required_documents: tuple[RequiredDocument, ...] = Field(min_length=1)
    language: Language = "fr"
