"""What the archive's use cases ask of its store, in the archive's words.

The PostgreSQL implementations are in `archive.adapters.postgres`; the unit tests use
in-memory ones. Every call runs inside the unit of work's one transaction: what a use case
writes and what it publishes commit together (the outbox), or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from archive.domain.api_keys import FailureLimit, FailureWindow
from archive.domain.consent import Consent
from lre_shared import units
from lre_shared.contracts import LetterDeposited, LetterRejected, Message, Problem, StoredDocument


@dataclass(frozen=True)
class EarlierDeposit:
    """The letter a sender deposited under an idempotency key, and how it was announced."""

    letter_id: UUID
    fingerprint: str
    announcement: bytes  # its `LetterDeposited`, byte for byte


@dataclass(frozen=True)
class Clash:
    """Why a letter's row could not be added: its id taken, or its item number drawn already
    (else the idempotency key, taken meanwhile)."""

    same_id: bool
    same_number: bool


@dataclass(frozen=True)
class ContentState:
    """What decides whether a letter's content may be handed over (`content_unavailable`)."""

    accepted_at: datetime | None
    receipt_signed_at: datetime | None
    content_deleted_at: datetime | None
    content_expires_at: datetime | None


@dataclass(frozen=True)
class LetterFacts:
    """Everything the archive heard of a deposited letter, for its sender's status."""

    letter_id: UUID
    item_number: str
    deposited_at: datetime
    first_notice_at: datetime | None
    accepted_at: datetime | None
    refused_at: datetime | None
    receipt_signed_at: datetime | None
    unclaimed_at: datetime | None
    handed_over_at: datetime | None
    content_deleted_at: datetime | None
    content_expires_at: datetime | None


@dataclass(frozen=True)
class RecordedRejection:
    letter_id: UUID
    problems: tuple[Problem, ...]
    rejected_at: datetime


@dataclass(frozen=True)
class StoredObject:
    """A document's bytes in the content store: its key, and the hash they must have."""

    filename: str
    size: int
    sha256: str
    object_key: str


@dataclass(frozen=True)
class AvailableDocument:
    document: StoredObject
    letter: ContentState


@dataclass(frozen=True)
class ZipState:
    item_number: str
    content: ContentState
    has_envelope: bool


@dataclass(frozen=True)
class Handover:
    """A letter's first download, if none was recorded (`handed_over_at`), of this document."""

    item_number: str
    handed_over_at: datetime | None
    document_id: UUID


@dataclass(frozen=True)
class ExpiryFacts:
    """What the content's expiry follows (`RetentionPolicy.content_expires_at`)."""

    letter_id: UUID
    window_closes_at: datetime | None
    accepted_at: datetime | None
    receipt_signed_at: datetime | None
    content_expires_at: datetime | None


@dataclass(frozen=True)
class DueContent:
    letter_id: UUID
    item_number: str
    accepted_at: datetime | None
    handed_over_at: datetime | None
    content_expires_at: datetime


@dataclass(frozen=True)
class CurrentEnvelope:
    """The letter's envelope proof slot: whether its content is kept, and the proof held."""

    content_deleted_at: datetime | None
    issued_at: datetime | None
    object_key: str | None


@dataclass(frozen=True)
class GrantedUpload:
    upload_id: UUID
    sender_id: str
    filename: str
    object_key: str
    granted_at: datetime
    url_expires_at: datetime
    usable_until: datetime
    declared_sha256: str | None


@dataclass(frozen=True)
class UploadRecord:
    """An upload as a deposit finds it: whose, still usable or taken already (`letter_id`)."""

    filename: str
    object_key: str
    sender_id: str
    letter_id: UUID | None
    size: int | None
    sha256: str | None
    usable_until: datetime
    url_expires_at: datetime
    declared_sha256: str | None


@dataclass(frozen=True)
class UploadObject:
    upload_id: UUID
    object_key: str


class Letters(Protocol):
    async def deposited_under(self, sender_id: str, idempotency_key: str) -> EarlierDeposit | None: ...

    async def add(
        self, event: LetterDeposited, *, sender_id: str, idempotency_key: str | None, fingerprint: str
    ) -> bool:
        """Add the letter announced by `event`; False when its id, item number or key is taken."""
        ...

    async def clash(
        self, letter_id: UUID, item_number: str, sender_id: str, idempotency_key: str | None
    ) -> Clash | None: ...

    async def facts_for_sender(
        self, sender_id: str, *, letter_id: UUID | None = None, idempotency_key: str | None = None
    ) -> LetterFacts | None: ...

    async def zip_state(self, letter_id: UUID) -> ZipState | None: ...

    async def handover(self, letter_id: UUID, document_id: UUID | None) -> Handover | None:
        """Locks the letter: two first downloads at once record one handover."""
        ...

    async def record_handover(self, letter_id: UUID, at: datetime) -> None: ...

    async def record_first_notice(
        self, letter_id: UUID, sent_at: datetime, window_closes_at: datetime
    ) -> None: ...

    async def record_acceptance(self, letter_id: UUID, accepted_at: datetime) -> bool:
        """False when the archive holds no such letter."""
        ...

    async def record_refusal(self, letter_id: UUID, refused_at: datetime) -> None: ...

    async def record_receipt_signature(self, letter_id: UUID, signed_at: datetime) -> None: ...

    async def record_unclaimed(
        self, letter_id: UUID, unclaimed_at: datetime, window_closed_at: datetime
    ) -> None: ...

    async def expiry_facts(self, letter_id: UUID) -> ExpiryFacts | None:
        """Of a letter whose content is kept, locked until the transaction ends."""
        ...

    async def expiry_facts_after(self, after: UUID, limit: int) -> list[ExpiryFacts]:
        """Of the next letters whose content is kept, by letter id, locked."""
        ...

    async def schedule_content_expiry(self, letter_id: UUID, expires_at: datetime | None) -> None: ...

    async def content_due(self, now: datetime, limit: int) -> list[DueContent]:
        """Letters whose content is due for deletion, claimed: skipped by other sweepers."""
        ...

    async def record_content_deleted(self, letter_id: UUID, at: datetime) -> None: ...


class Documents(Protocol):
    async def add(self, letter_id: UUID, documents: Sequence[tuple[StoredDocument, str]]) -> None:
        """Each document with the key its bytes are stored under."""
        ...

    async def available(self, letter_id: UUID, document_id: UUID) -> AvailableDocument | None: ...

    async def record_link_issued(self, document_id: UUID, at: datetime) -> None: ...

    async def zip_entries(self, letter_id: UUID) -> list[StoredObject]:
        """Main document first, then the attachments, then the envelope proof, if any."""
        ...

    async def object_keys(self, letter_id: UUID) -> list[str]:
        """Every object of the letter's content: its documents and its envelope proof."""
        ...

    async def holds_object(self, object_key: str) -> bool:
        """Whether a document or an envelope proof of any letter is this object."""
        ...


class Envelopes(Protocol):
    async def current(self, letter_id: UUID) -> CurrentEnvelope | None:
        """None when there is no such letter; locks the letter."""
        ...

    async def keep(self, letter_id: UUID, proof: StoredObject, issued_at: datetime) -> None:
        """The letter's envelope proof, in place of the one it had."""
        ...


class Rejections(Protocol):
    async def add(self, rejected: LetterRejected) -> None: ...

    async def latest_for_sender(
        self, sender_id: str, *, letter_id: UUID | None = None, idempotency_key: str | None = None
    ) -> RecordedRejection | None: ...


@dataclass(frozen=True)
class SenderStream:
    """A letter as its sender's events name it, and the number of the event now taken."""

    sender_id: str
    item_number: str
    idempotency_key: str | None
    sequence: int


class SenderStreams(Protocol):
    """Each letter's events to its sender, numbered from 1 (`SenderEvent.sequence`): a number
    is taken with its row locked until the transaction ends, so two replicas number one
    letter's facts one after the other."""

    async def next_of_letter(self, letter_id: UUID) -> SenderStream | None:
        """The letter's sender and its next number; None when the archive holds no such letter."""
        ...

    async def next_of_deposit(self, letter_id: UUID, sender_id: str) -> int:
        """The next number of a deposit the archive holds no letter for (a refused one)."""
        ...


class Uploads(Protocol):
    async def add(self, upload: GrantedUpload) -> None: ...

    async def for_deposit(self, upload_id: UUID) -> UploadRecord | None:
        """Locked: two deposits cannot take one upload."""
        ...

    async def record_taken(
        self, upload_id: UUID, *, letter_id: UUID, at: datetime, size: int, sha256: str, in_place: bool
    ) -> None:
        """Taken by `letter_id`; `in_place`: the object is the document now, nothing to clean."""
        ...

    async def due_for_cleaning(self, now: datetime, limit: int) -> list[UploadObject]:
        """Claimed: skipped by other sweepers."""
        ...

    async def record_cleaned(self, upload_ids: Sequence[UUID], at: datetime) -> None: ...


class Consents(Protocol):
    """The consent registry (CPCE L.100), one history per sender and address key."""

    async def hold(self, sender_id: str, email_key: str, *, shared: bool = False) -> None:
        """Until the transaction ends: `shared` for a deposit that reads the history, exclusive
        for a change to it; a deposit thus sees a withdrawal whole, or commits before it."""
        ...

    async def latest(self, sender_id: str, email_key: str) -> Consent | None: ...

    async def add(self, consent: Consent) -> None: ...

    async def record_withdrawal(
        self, consent_id: UUID, *, withdrawn_at: datetime, channel: str, recorded_at: datetime
    ) -> None: ...

    async def history(self, sender_id: str, email_key: str | None = None) -> list[Consent]:
        """Oldest first; every address of the sender's when `email_key` is None."""
        ...


class AuthFailures(Protocol):
    """Failed API key authentications per client address (`FailureLimit`), one count for every
    replica: each call one statement on a connection of the pool, outside any unit of work."""

    async def window(self, address: str) -> FailureWindow | None: ...

    async def count(self, address: str, now: datetime, limit: FailureLimit) -> FailureWindow:
        """Count a failure at `now` as `limit.counted` does, and return the window it was
        counted in: at once, so that replicas counting together each get a count of their own."""
        ...

    async def forget(self, before: datetime) -> int:
        """Drop the windows opened at `before` or earlier (closed); how many."""
        ...


class UnitOfWork(units.UnitOfWork, Protocol):
    """One transaction: the archive's records, and the messages that leave once it commits."""

    @property
    def letters(self) -> Letters: ...

    @property
    def documents(self) -> Documents: ...

    @property
    def envelopes(self) -> Envelopes: ...

    @property
    def rejections(self) -> Rejections: ...

    @property
    def uploads(self) -> Uploads: ...

    @property
    def consents(self) -> Consents: ...

    @property
    def sender_streams(self) -> SenderStreams: ...

    async def publish_again(self, message: Message, body: bytes) -> None:
        """Publish `message` again as it was published once (`body`, byte for byte), under
        its first message id."""
        ...


# Units of work of their own: the sweepers, the HTTP routes.
UnitsOfWork = units.UnitsOfWork[UnitOfWork]
