"""Message contracts of the bus: what every contract shares.

Every message is a frozen pydantic model serialised as JSON. It carries a `message_id`
(UUID, the deduplication key of every inbox), a `correlation_id` (the letter id: every
message about a letter carries it, so logs and traces of one letter line up) and an
`occurred_at` in UTC. Consumers ignore fields they do not know, so a producer may add an
optional field without breaking anyone; a breaking change is a new model published under
a `.v2` routing key beside `.v1`.

Commands are imperative (`SubmitLetter`, `SendNotice`); events are past tense
(`LetterDeposited`, `NoticeSent`). Each class names the exchange it travels on (or takes it
from its service's base, e.g. `PickupEvent`) and its routing key; `lre_shared.topology`
derives every queue name from those. Each service's contracts live in the module named
after it: the events it publishes and the commands and queries it answers, on its own
exchanges. This module holds their base classes and the values several services exchange
(parties, documents, channels).
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, PlainSerializer, PlainValidator

from lre_shared.clock import now_utc
from lre_shared.text import FileName, SafeText


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def _decode_b64(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ValueError("not valid base64") from exc


Base64Bytes = Annotated[
    bytes,
    PlainValidator(_decode_b64, json_schema_input_type=str),
    PlainSerializer(lambda b: base64.b64encode(b).decode("ascii"), return_type=str),
]


class Contract(BaseModel):
    """A value carried inside messages: frozen, and tolerant of fields it does not know."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Message(Contract):
    """Base of every command, event and reply on the bus."""

    exchange: ClassVar[str]
    routing_key: ClassVar[str]

    message_id: UUID = Field(default_factory=uuid4)
    correlation_id: UUID = Field(description="The letter this message is about.")
    occurred_at: UtcDatetime = Field(default_factory=now_utc)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @property
    def published_key(self) -> str:
        """The routing key this message is published under: its class's `routing_key`, unless
        its contract routes each message by what it says (`SenderEvent`: per sender)."""
        return self.routing_key


class Reply(Message):
    """The answer to a request/reply query: sent to the asker's reply queue through the
    default exchange, never routed by topology."""

    exchange: ClassVar[str] = ""


E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"


Language = Literal["fr", "en"]


LANGUAGES: tuple[Language, ...] = ("fr", "en")


# A letter's item number (numéro de pli), as the archive draws it at deposit: 12 digits.
ItemNumber = Annotated[str, Field(pattern=r"^[0-9]{12}$")]


# What a one-time code, and the confirmation of its verification case, may go by.
CodeChannel = Literal["email", "sms"]


# CPCE L.100: a recipient who is not a professional (a consumer) must have agreed, with the
# sender, to receive electronic registered letters; a professional need not.
RecipientKind = Literal["consumer", "professional"]


RECIPIENT_KINDS: tuple[RecipientKind, ...] = ("consumer", "professional")


EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def _birth_date(value: date) -> date:
    if value < EARLIEST_BIRTH_DATE:
        raise ValueError(f"{value.isoformat()} is before 1900: give the recipient's birth date, YYYY-MM-DD")
    if value > now_utc().date():
        raise ValueError(f"{value.isoformat()} is in the future: give the recipient's birth date, YYYY-MM-DD")
    return value


# A recipient's birth date (ISO 8601, YYYY-MM-DD): none in the future, none before 1900.
BirthDate = Annotated[date, AfterValidator(_birth_date)]


class SubmittedSender(Contract):
    """The sender as a sender system declares it in `SubmitLetter`.

    Read leniently on purpose: the archive checks every field itself and refuses the deposit
    with a reason per field (`LetterRejected`), where a strict model would dead-letter the whole
    command and leave the sender without an answer. `Sender` is this, checked.
    """

    # A `Sender`/`Recipient` handed in is read as the submission it is, so commands compare
    # equal after a JSON round trip.
    model_config = ConfigDict(frozen=True, extra="ignore", revalidate_instances="subclass-instances")

    id: SafeText = Field(default="", description="Sender system id (the archive may keep an allow-list).")
    name: SafeText = Field(default="", description="Person or company name; the company's if empty.")
    company: SafeText | None = Field(default=None, description="Company name, when the sender is one.")
    email: SafeText = ""
    siret: SafeText | None = Field(default=None, description="French SIRET, 14 digits (Luhn check).")


class Sender(SubmittedSender):
    """A sender the archive accepted."""

    id: SafeText = Field(min_length=1, max_length=100, description="Sender system id.")
    name: SafeText = Field(min_length=1, max_length=200, description="Person or company name.")
    company: SafeText | None = Field(default=None, max_length=200)
    email: EmailStr
    siret: SafeText | None = Field(default=None, pattern=r"^[0-9]{14}$")


class SubmittedRecipient(Contract):
    """The recipient as a sender system declares it in `SubmitLetter`: read leniently, checked
    by the archive with a reason per field (see `SubmittedSender`). `Recipient` is this, checked."""

    # A `Sender`/`Recipient` handed in is read as the submission it is, so commands compare
    # equal after a JSON round trip.
    model_config = ConfigDict(frozen=True, extra="ignore", revalidate_instances="subclass-instances")

    company: SafeText | None = None
    last_name: SafeText = ""
    first_name: SafeText = ""
    address: SafeText = Field(default="", description="First address line (number and street).")
    address_lines: tuple[SafeText, ...] = Field(
        default=(), description="Further address lines (building, floor, BP, lieu-dit), at most 4."
    )
    postcode: SafeText = ""
    city: SafeText = ""
    country: SafeText = Field(default="FR", description="ISO 3166-1 alpha-2 code.")
    email: SafeText = ""
    mobile: SafeText | None = Field(default=None, description="E.164, e.g. +33612345678.")
    fax: SafeText | None = Field(default=None, description="E.164.")
    landline: SafeText | None = Field(default=None, description="E.164.")
    language: SafeText = Field(
        default="fr",
        description="The recipient's language (fr or en): notices, reminders, codes and pages use it.",
    )
    kind: SafeText = Field(
        default="consumer",
        description="consumer (the default) or professional. CPCE L.100: a letter to a consumer is"
        " taken only if the sender recorded the recipient's consent (RecordConsent); declare"
        " professional a recipient who receives it for their trade or profession.",
    )
    birth_date: BirthDate | None = Field(
        default=None,
        description="The recipient's birth date, YYYY-MM-DD (optional). CPCE R.53-1: when the recipient"
        " proves who they are through an identity provider (FranceConnect+), it is compared with the"
        " provider's birth date as well as the names, so that a namesake is not taken for them.",
    )


class Recipient(SubmittedRecipient):
    """A recipient the archive accepted."""

    company: SafeText | None = Field(default=None, max_length=200)
    last_name: SafeText = Field(min_length=1, max_length=100)
    first_name: SafeText = Field(min_length=1, max_length=100)
    address: SafeText = Field(min_length=1, max_length=300)
    address_lines: tuple[SafeText, ...] = Field(default=(), max_length=4)
    postcode: SafeText = Field(min_length=1, max_length=20)
    city: SafeText = Field(min_length=1, max_length=100)
    country: SafeText = Field(default="FR", min_length=2, max_length=2)
    email: EmailStr
    mobile: SafeText | None = Field(default=None, pattern=E164_PATTERN)
    fax: SafeText | None = Field(default=None, pattern=E164_PATTERN)
    landline: SafeText | None = Field(default=None, pattern=E164_PATTERN)
    language: Language = "fr"
    kind: RecipientKind = "consumer"


class Document(Contract):
    """A document as the sender hands it over (embedded, small letters only)."""

    filename: FileName = Field(min_length=1, max_length=200)
    content: Base64Bytes = Field(description="The file, base64.")


class StoredDocument(Contract):
    """A document the archive keeps, known by its hash."""

    document_id: UUID
    filename: FileName
    size: int
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: Literal["main", "attachment"] = "main"


class NoticeChannel(StrEnum):
    email = "email"  # the legal channel (CPCE R.53-3)
    sms = "sms"
    voice = "voice"
    fax = "fax"


class SignatureMethod(StrEnum):
    """How the recipient may sign the acknowledgement of receipt (AR)."""

    certificate = "certificate"  # PAdES with the recipient's own certificate
    one_time_code = "one_time_code"  # identity checked by support staff, then a code
    # CPCE R.53-1: identity proved through an identity provider at eIDAS level substantial or
    # high (FranceConnect+), which then signs the AR without a code. Never in the default
    # `signature_methods` of a deposit: a sender opts in, so letters deposited without the
    # field keep the methods (and deposit fingerprints) they always had.
    identity_provider = "identity_provider"


class NoticeKind(StrEnum):
    notice = "notice"  # avis de mise à disposition
    reminder = "reminder"  # relance
