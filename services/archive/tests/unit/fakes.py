"""The archive's records in memory: the repositories of `archive.service_layer.ports` as
dictionaries, a unit of work that keeps what it publishes, and a content store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from archive.domain.consent import Consent
from archive.service_layer.ports import (
    AvailableDocument,
    Clash,
    ContentState,
    CurrentEnvelope,
    DueContent,
    EarlierDeposit,
    ExpiryFacts,
    GrantedUpload,
    Handover,
    LetterFacts,
    RecordedRejection,
    SenderStream,
    StoredObject,
    UploadObject,
    UploadRecord,
    ZipState,
)
from lre_shared.contracts import LetterDeposited, LetterRejected, Message, SenderEvent, StoredDocument


@dataclass
class Letter:
    """A letter's row: what it was deposited as, and what the archive heard of it since."""

    facts: LetterFacts
    sender_id: str
    idempotency_key: str | None
    fingerprint: str
    announcement: bytes
    window_closes_at: datetime | None = None

    def content(self) -> ContentState:
        f = self.facts
        return ContentState(f.accepted_at, f.receipt_signed_at, f.content_deleted_at, f.content_expires_at)

    def update(self, **facts: datetime | None) -> None:
        self.facts = replace(self.facts, **facts)  # type: ignore[arg-type]


@dataclass
class DocumentRow:
    letter_id: UUID
    stored: StoredDocument
    object_key: str
    first_link_at: datetime | None = None


@dataclass
class Envelope:
    proof: StoredObject
    issued_at: datetime


@dataclass
class FakeLetters:
    rows: dict[UUID, Letter] = field(default_factory=dict)
    documents: dict[UUID, DocumentRow] = field(default_factory=dict)
    envelopes: dict[UUID, Envelope] = field(default_factory=dict)
    # How many of the next item numbers drawn another letter holds already.
    taken_numbers: int = 0
    other_numbers: set[str] = field(default_factory=set)
    added: list[LetterDeposited] = field(default_factory=list)

    def _under_key(self, sender_id: str, idempotency_key: str | None) -> Letter | None:
        if idempotency_key is None:
            return None
        return next(
            (
                r
                for r in self.rows.values()
                if (r.sender_id, r.idempotency_key) == (sender_id, idempotency_key)
            ),
            None,
        )

    async def deposited_under(self, sender_id: str, idempotency_key: str) -> EarlierDeposit | None:
        letter = self._under_key(sender_id, idempotency_key)
        if letter is None:
            return None
        return EarlierDeposit(letter.facts.letter_id, letter.fingerprint, letter.announcement)

    async def add(
        self, event: LetterDeposited, *, sender_id: str, idempotency_key: str | None, fingerprint: str
    ) -> bool:
        self.added.append(event)
        if self.taken_numbers:
            self.taken_numbers -= 1
            self.other_numbers.add(event.item_number)
        if (
            event.item_number in self.other_numbers
            or event.correlation_id in self.rows
            or self._under_key(sender_id, idempotency_key) is not None
        ):
            return False
        facts = LetterFacts(event.correlation_id, event.item_number, event.deposited_at, *(None,) * 8)
        self.rows[event.correlation_id] = Letter(
            facts, sender_id, idempotency_key, fingerprint, event.to_json()
        )
        return True

    async def clash(
        self, letter_id: UUID, item_number: str, sender_id: str, idempotency_key: str | None
    ) -> Clash | None:
        if letter_id in self.rows:
            return Clash(same_id=True, same_number=self.rows[letter_id].facts.item_number == item_number)
        if item_number in self.other_numbers:
            return Clash(same_id=False, same_number=True)
        if self._under_key(sender_id, idempotency_key) is not None:
            return Clash(same_id=False, same_number=False)
        return None

    async def facts_for_sender(
        self, sender_id: str, *, letter_id: UUID | None = None, idempotency_key: str | None = None
    ) -> LetterFacts | None:
        if idempotency_key is not None:
            letter = self._under_key(sender_id, idempotency_key)
        else:
            letter = self.rows.get(letter_id) if letter_id else None
            letter = letter if letter is not None and letter.sender_id == sender_id else None
        return None if letter is None else letter.facts

    async def zip_state(self, letter_id: UUID) -> ZipState | None:
        letter = self.rows.get(letter_id)
        if letter is None:
            return None
        return ZipState(letter.facts.item_number, letter.content(), letter_id in self.envelopes)

    async def handover(self, letter_id: UUID, document_id: UUID | None) -> Handover | None:
        letter = self.rows.get(letter_id)
        if letter is None:
            return None
        for d in self.documents.values():
            wanted = d.stored.document_id == document_id or (document_id is None and d.stored.role == "main")
            if d.letter_id == letter_id and wanted:
                return Handover(letter.facts.item_number, letter.facts.handed_over_at, d.stored.document_id)
        return None

    async def record_handover(self, letter_id: UUID, at: datetime) -> None:
        self.rows[letter_id].update(handed_over_at=at)

    async def record_first_notice(
        self, letter_id: UUID, sent_at: datetime, window_closes_at: datetime
    ) -> None:
        letter = self.rows.get(letter_id)
        if letter is not None and (
            letter.facts.first_notice_at is None or letter.facts.first_notice_at > sent_at
        ):
            letter.update(first_notice_at=sent_at)
            letter.window_closes_at = window_closes_at

    async def record_acceptance(self, letter_id: UUID, accepted_at: datetime) -> bool:
        letter = self.rows.get(letter_id)
        if letter is None:
            return False
        letter.update(accepted_at=letter.facts.accepted_at or accepted_at)
        return True

    async def record_refusal(self, letter_id: UUID, refused_at: datetime) -> None:
        if letter := self.rows.get(letter_id):
            letter.update(refused_at=letter.facts.refused_at or refused_at)

    async def record_receipt_signature(self, letter_id: UUID, signed_at: datetime) -> None:
        if letter := self.rows.get(letter_id):
            letter.update(receipt_signed_at=letter.facts.receipt_signed_at or signed_at)

    async def record_unclaimed(
        self, letter_id: UUID, unclaimed_at: datetime, window_closed_at: datetime
    ) -> None:
        letter = self.rows.get(letter_id)
        if letter is not None and letter.facts.accepted_at is None:
            letter.update(unclaimed_at=letter.facts.unclaimed_at or unclaimed_at)
            letter.window_closes_at = window_closed_at

    def _expiry(self, letter: Letter) -> ExpiryFacts:
        f = letter.facts
        return ExpiryFacts(
            f.letter_id, letter.window_closes_at, f.accepted_at, f.receipt_signed_at, f.content_expires_at
        )

    def _kept(self) -> list[Letter]:
        return sorted(
            (r for r in self.rows.values() if r.facts.content_deleted_at is None),
            key=lambda r: r.facts.letter_id,
        )

    async def expiry_facts(self, letter_id: UUID) -> ExpiryFacts | None:
        letter = self.rows.get(letter_id)
        if letter is None or letter.facts.content_deleted_at is not None:
            return None
        return self._expiry(letter)

    async def expiry_facts_after(self, after: UUID, limit: int) -> list[ExpiryFacts]:
        return [self._expiry(r) for r in self._kept() if r.facts.letter_id > after][:limit]

    async def schedule_content_expiry(self, letter_id: UUID, expires_at: datetime | None) -> None:
        self.rows[letter_id].update(content_expires_at=expires_at)

    async def content_due(self, now: datetime, limit: int) -> list[DueContent]:
        return [
            DueContent(f.letter_id, f.item_number, f.accepted_at, f.handed_over_at, f.content_expires_at)
            for f in (r.facts for r in self._kept())
            if f.content_expires_at is not None and f.content_expires_at <= now
        ][:limit]

    async def record_content_deleted(self, letter_id: UUID, at: datetime) -> None:
        self.rows[letter_id].update(content_deleted_at=at)


def deposited_letter(
    letters: FakeLetters,
    letter_id: UUID,
    *,
    sender_id: str = "acme",
    item_number: str = "123456789012",
    deposited_at: datetime,
    **facts: datetime | None,
) -> Letter:
    """A letter as deposited earlier, with the facts the archive heard of it since."""
    row = LetterFacts(letter_id, item_number, deposited_at, *(None,) * 8)
    letter = Letter(replace(row, **facts), sender_id, None, "", b"{}")  # type: ignore[arg-type]
    letters.rows[letter_id] = letter
    return letter


@dataclass
class FakeDocuments:
    letters: FakeLetters

    async def add(self, letter_id: UUID, documents: Sequence[tuple[StoredDocument, str]]) -> None:
        for stored, key in documents:
            self.letters.documents[stored.document_id] = DocumentRow(letter_id, stored, key)

    def of(self, letter_id: UUID) -> list[DocumentRow]:
        return [d for d in self.letters.documents.values() if d.letter_id == letter_id]

    async def available(self, letter_id: UUID, document_id: UUID) -> AvailableDocument | None:
        document = self.letters.documents.get(document_id)
        if document is None or document.letter_id != letter_id:
            return None
        stored = document.stored
        found = StoredObject(stored.filename, stored.size, stored.sha256, document.object_key)
        return AvailableDocument(found, self.letters.rows[letter_id].content())

    async def record_link_issued(self, document_id: UUID, at: datetime) -> None:
        document = self.letters.documents[document_id]
        document.first_link_at = document.first_link_at or at

    async def zip_entries(self, letter_id: UUID) -> list[StoredObject]:
        documents = sorted(self.of(letter_id), key=lambda d: (d.stored.role != "main", d.stored.filename))
        entries = [
            StoredObject(d.stored.filename, d.stored.size, d.stored.sha256, d.object_key) for d in documents
        ]
        envelope = self.letters.envelopes.get(letter_id)
        return entries + ([envelope.proof] if envelope else [])

    async def object_keys(self, letter_id: UUID) -> list[str]:
        envelope = self.letters.envelopes.get(letter_id)
        keys = {d.object_key for d in self.of(letter_id)} | (
            {envelope.proof.object_key} if envelope else set()
        )
        return sorted(keys)

    async def holds_object(self, object_key: str) -> bool:
        return any(d.object_key == object_key for d in self.letters.documents.values()) or any(
            e.proof.object_key == object_key for e in self.letters.envelopes.values()
        )


@dataclass
class FakeEnvelopes:
    letters: FakeLetters

    async def current(self, letter_id: UUID) -> CurrentEnvelope | None:
        letter = self.letters.rows.get(letter_id)
        if letter is None:
            return None
        envelope = self.letters.envelopes.get(letter_id)
        return CurrentEnvelope(
            letter.facts.content_deleted_at,
            envelope.issued_at if envelope else None,
            envelope.proof.object_key if envelope else None,
        )

    async def keep(self, letter_id: UUID, proof: StoredObject, issued_at: datetime) -> None:
        self.letters.envelopes[letter_id] = Envelope(proof, issued_at)


@dataclass
class FakeRejections:
    rows: dict[UUID, tuple[str, LetterRejected]] = field(default_factory=dict)

    async def add(self, rejected: LetterRejected) -> None:
        self.rows.setdefault(rejected.message_id, (rejected.sender_id, rejected))

    async def latest_for_sender(
        self, sender_id: str, *, letter_id: UUID | None = None, idempotency_key: str | None = None
    ) -> RecordedRejection | None:
        found = [
            r
            for sender, r in self.rows.values()
            if sender == sender_id
            and (
                r.idempotency_key == idempotency_key
                if idempotency_key is not None
                else r.correlation_id == letter_id
            )
        ]
        if not found:
            return None
        latest = max(found, key=lambda r: r.occurred_at)
        return RecordedRejection(latest.correlation_id, latest.problems, latest.occurred_at)


@dataclass
class Upload:
    granted: GrantedUpload
    letter_id: UUID | None = None
    consumed_at: datetime | None = None
    size: int | None = None
    sha256: str | None = None
    cleaned_at: datetime | None = None


@dataclass
class FakeUploads:
    rows: dict[UUID, Upload] = field(default_factory=dict)

    async def add(self, upload: GrantedUpload) -> None:
        self.rows[upload.upload_id] = Upload(upload)

    async def for_deposit(self, upload_id: UUID) -> UploadRecord | None:
        upload = self.rows.get(upload_id)
        if upload is None:
            return None
        g = upload.granted
        return UploadRecord(
            g.filename,
            g.object_key,
            g.sender_id,
            upload.letter_id,
            upload.size,
            upload.sha256,
            g.usable_until,
            g.url_expires_at,
            g.declared_sha256,
        )

    async def record_taken(
        self, upload_id: UUID, *, letter_id: UUID, at: datetime, size: int, sha256: str, in_place: bool
    ) -> None:
        upload = self.rows[upload_id]
        upload.letter_id, upload.consumed_at, upload.size, upload.sha256 = letter_id, at, size, sha256
        upload.cleaned_at = at if in_place else None

    async def due_for_cleaning(self, now: datetime, limit: int) -> list[UploadObject]:
        return [
            UploadObject(upload_id, u.granted.object_key)
            for upload_id, u in sorted(self.rows.items())
            if u.cleaned_at is None
            and (
                (u.consumed_at is not None and u.granted.url_expires_at <= now)
                or u.granted.usable_until <= now
            )
        ][:limit]

    async def record_cleaned(self, upload_ids: Sequence[UUID], at: datetime) -> None:
        for upload_id in upload_ids:
            self.rows[upload_id].cleaned_at = at


@dataclass
class FakeSenderStreams:
    letters: FakeLetters
    sequences: dict[tuple[UUID, str], int]

    def _next(self, letter_id: UUID, sender_id: str) -> int:
        self.sequences[letter_id, sender_id] = self.sequences.get((letter_id, sender_id), 0) + 1
        return self.sequences[letter_id, sender_id]

    async def next_of_letter(self, letter_id: UUID) -> SenderStream | None:
        letter = self.letters.rows.get(letter_id)
        if letter is None:
            return None
        sequence = self._next(letter_id, letter.sender_id)
        return SenderStream(letter.sender_id, letter.facts.item_number, letter.idempotency_key, sequence)

    async def next_of_deposit(self, letter_id: UUID, sender_id: str) -> int:
        return self._next(letter_id, sender_id)


@dataclass
class FakeConsents:
    """The registry as a list in the order written; `holds` records each hold taken."""

    rows: list[Consent] = field(default_factory=list)
    holds: list[tuple[str, str, bool]] = field(default_factory=list)

    async def hold(self, sender_id: str, email_key: str, *, shared: bool = False) -> None:
        self.holds.append((sender_id, email_key, shared))

    async def latest(self, sender_id: str, email_key: str) -> Consent | None:
        return next(
            (c for c in reversed(self.rows) if (c.sender_id, c.email_key) == (sender_id, email_key)), None
        )

    async def add(self, consent: Consent) -> None:
        self.rows.append(consent)

    async def record_withdrawal(
        self, consent_id: UUID, *, withdrawn_at: datetime, channel: str, recorded_at: datetime
    ) -> None:
        for i, row in enumerate(self.rows):
            if row.consent_id == consent_id and row.withdrawn_at is None:
                self.rows[i] = replace(
                    row,
                    withdrawn_at=withdrawn_at,
                    withdrawal_channel=channel,
                    withdrawal_recorded_at=recorded_at,
                )

    async def history(self, sender_id: str, email_key: str | None = None) -> list[Consent]:
        mine = [c for c in self.rows if c.sender_id == sender_id]
        return [c for c in mine if email_key is None or c.email_key == email_key]


@dataclass
class FakeUnitOfWork:
    """Everything in memory; `published` holds what would leave at the commit (`told`: the
    sender events among it), and `published_again` the announcements published a second time."""

    letters: FakeLetters = field(default_factory=FakeLetters)
    rejections: FakeRejections = field(default_factory=FakeRejections)
    uploads: FakeUploads = field(default_factory=FakeUploads)
    consents: FakeConsents = field(default_factory=FakeConsents)
    published: list[Message] = field(default_factory=list)
    published_again: list[tuple[Message, bytes]] = field(default_factory=list)
    sequences: dict[tuple[UUID, str], int] = field(default_factory=dict)
    told: list[SenderEvent] = field(default_factory=list)  # what senders would hear, in order

    @property
    def sender_streams(self) -> FakeSenderStreams:
        return FakeSenderStreams(self.letters, self.sequences)

    @property
    def documents(self) -> FakeDocuments:
        return FakeDocuments(self.letters)

    @property
    def envelopes(self) -> FakeEnvelopes:
        return FakeEnvelopes(self.letters)

    async def publish(self, message: Message) -> None:
        if isinstance(message, SenderEvent):
            self.told.append(message)
        else:
            self.published.append(message)

    async def publish_again(self, message: Message, body: bytes) -> None:
        self.published_again.append((message, body))

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeUnitOfWork]:
        """As `UnitsOfWork`: every unit is this one (no rollback in memory)."""
        yield self


@dataclass
class FakeStore:
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    async def put(self, key: str, content: bytes, sha256: str) -> None:
        self.objects[key] = (content, sha256)

    async def get(self, key: str, sha256: str) -> bytes:
        return self.objects[key][0]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def delete_under(self, prefix: str) -> None:
        for key in [key for key in self.objects if key.startswith(prefix)]:
            del self.objects[key]
