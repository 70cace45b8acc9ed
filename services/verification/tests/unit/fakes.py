"""In-memory repositories and unit of work: the desk's store as the use cases see it, for
unit tests of their rules (the PostgreSQL ones are exercised by the integration tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from lre_shared.contracts import Message
from verification.domain.cases import (
    CLOSED,
    WAITING,
    Callback,
    Case,
    Channels,
    CodeChannel,
    CodeOrder,
    Decision,
    ExpiredDocument,
    Language,
    Letter,
    NewDocument,
    Recipient,
    TriageEntry,
)
from verification.domain.codes import StoredCode
from verification.service_layer.ports import TriageStatus


@dataclass
class KnownLetter:
    letter: Letter
    recipient: Recipient
    codes_locked_until: datetime | None = None
    codes_lock_changed_at: datetime | None = None


@dataclass
class InMemoryLetters:
    known: dict[UUID, KnownLetter] = field(default_factory=dict)

    async def learn(self, letter_id: UUID, item_number: str, policy: str, recipient: Recipient) -> None:
        if letter_id not in self.known:
            letter = Letter(letter_id, item_number, policy, "deposited", recipient.email, recipient.mobile)  # type: ignore[arg-type]
            self.known[letter_id] = KnownLetter(letter, recipient)

    async def set_status(self, letter_id: UUID, status: Literal["accepted", "refused"]) -> None:
        if entry := self.known.get(letter_id):
            entry.letter = replace(entry.letter, status=status)

    def _applies(self, entry: KnownLetter | None, at: datetime) -> bool:
        return entry is not None and (
            entry.codes_lock_changed_at is None or entry.codes_lock_changed_at <= at
        )

    async def hold_codes(self, letter_id: UUID, at: datetime, until: datetime) -> None:
        entry = self.known.get(letter_id)
        if entry is not None and self._applies(entry, at):
            current = entry.codes_locked_until
            entry.codes_locked_until = max(current, until) if current is not None and current > at else until
            entry.codes_lock_changed_at = at

    async def release_codes(self, letter_id: UUID, at: datetime) -> None:
        entry = self.known.get(letter_id)
        if entry is not None and self._applies(entry, at):
            entry.codes_locked_until, entry.codes_lock_changed_at = None, at

    async def codes_held_until(self, letter_id: UUID, now: datetime) -> datetime | None:
        entry = self.known.get(letter_id)
        until = entry.codes_locked_until if entry else None
        return until if until is not None and until > now else None

    async def locked(self, letter_id: UUID) -> Letter | None:
        entry = self.known.get(letter_id)
        return entry.letter if entry else None

    async def declared_address(self, letter_id: UUID, channel: CodeChannel) -> str | None:
        entry = self.known.get(letter_id)
        if entry is None:
            return None
        return entry.recipient.email if channel == "email" else entry.recipient.mobile

    async def recipient(self, letter_id: UUID) -> dict[str, Any] | None:
        entry = self.known.get(letter_id)
        if entry is None:
            return None
        recipient, forgotten_at = entry.recipient, entry.letter.recipient_forgotten_at
        if forgotten_at is not None:
            return dict.fromkeys(
                ("recipient_name", "recipient_company", "recipient_landline", "recipient_birth_date")
            ) | {"recipient_forgotten_at": forgotten_at}
        return {
            "recipient_name": recipient.name,
            "recipient_company": recipient.company,
            "recipient_landline": recipient.landline,
            "recipient_birth_date": recipient.birth_date,
            "recipient_forgotten_at": None,
        }

    async def with_item_number(self, item_number: str) -> UUID | None:
        return next((i for i, e in self.known.items() if e.letter.item_number == item_number), None)

    async def recipient_forgotten_at(self, letter_id: UUID) -> datetime | None:
        entry = self.known.get(letter_id)
        return entry.letter.recipient_forgotten_at if entry else None

    def forget(self, letter_id: UUID, now: datetime) -> None:
        """What the retention sweep does to a letter (its selection is PostgreSQL's)."""
        entry = self.known[letter_id]
        entry.letter = replace(
            entry.letter, recipient_email=None, recipient_mobile=None, recipient_forgotten_at=now
        )
        entry.recipient = Recipient(name="", company=None, email=None, mobile=None, landline=None)

    async def forget_recipients(
        self, decided_before: datetime, known_before: datetime, now: datetime
    ) -> list[tuple[UUID, list[UUID]]]:
        raise NotImplementedError("the sweep's selection is PostgreSQL's: see the integration tests")


@dataclass
class InMemoryCases:
    by_id: dict[UUID, Case] = field(default_factory=dict)

    def _put(self, case: Case) -> Case:
        self.by_id[case.case_id] = case
        return case

    async def get(self, case_id: UUID, *, lock: bool = False) -> Case | None:
        return self.by_id.get(case_id)

    async def of_letter(self, case_id: UUID, letter_id: UUID) -> Case | None:
        case = self.by_id.get(case_id)
        return case if case is not None and case.letter_id == letter_id else None

    async def current(self, letter_id: UUID) -> Case | None:
        cases = [c for c in self.by_id.values() if c.letter_id == letter_id and c.state != "rejected"]
        return max(cases, key=lambda c: c.opened_at, default=None)

    async def last_approved(self, letter_id: UUID) -> Case | None:
        cases = [c for c in self.by_id.values() if c.letter_id == letter_id and c.state == "approved"]
        return max(cases, key=lambda c: c.decided_at or c.opened_at, default=None)

    async def open_with_reference(self, reference: str) -> Case | None:
        cases = [c for c in self.by_id.values() if c.reference == reference and c.state not in CLOSED]
        return max(cases, key=lambda c: c.opened_at, default=None)

    async def open(
        self, case_id: UUID, letter: Letter, channels: Channels, now: datetime, draw: Callable[[], str]
    ) -> Case:
        taken = {c.reference for c in self.by_id.values()}
        reference = next(r for r in (draw() for _ in range(10)) if r not in taken)
        case = Case(
            case_id,
            letter.letter_id,
            letter.item_number,
            reference,
            letter.policy,
            "awaiting_documents",
            channels.document_channel,
            channels.code_channel,
            channels.code_address,
            channels.language,
            opened_at=now,
        )
        return self._put(case)

    async def choose_channels(self, case_id: UUID, channels: Channels) -> Case:
        return self._put(
            replace(
                self.by_id[case_id],
                document_channel=channels.document_channel,
                code_channel=channels.code_channel,
                code_address=channels.code_address,
                language=channels.language,
            )
        )

    async def choose_code_channel(self, case_id: UUID, channel: CodeChannel, address: str) -> None:
        if case := self.by_id.get(case_id):
            self._put(replace(case, code_channel=channel, code_address=address))

    async def set_language(self, letter_id: UUID, language: Language) -> None:
        for case in list(self.by_id.values()):
            if case.letter_id == letter_id and case.state != "rejected":
                self._put(replace(case, language=language))

    async def language(self, case_id: UUID) -> Language | None:
        case = self.by_id.get(case_id)
        return case.language if case else None

    async def documents_arrived(self, case_id: UUID, now: datetime) -> str:
        case = self.by_id[case_id]
        if case.state in WAITING:
            case = self._put(replace(case, state="pending", pending_since=now))
        return case.state

    async def wait_for_agent(self, case_id: UUID, now: datetime, reason: str) -> None:
        case = self.by_id[case_id]
        if case.state in WAITING:
            case = replace(case, state="pending", pending_since=now)
        self._put(replace(case, reason=reason))

    async def queue(self, state: str | None) -> list[Case]:
        chosen = [c for c in self.by_id.values() if (c.state == state if state else c.state not in CLOSED)]
        return sorted(chosen, key=lambda c: (c.pending_since or c.opened_at, c.opened_at))

    async def next_waiting(self, stale_before: datetime) -> UUID | None:
        waiting = [
            c
            for c in self.by_id.values()
            if c.state == "pending"
            or (c.state == "in_review" and c.claimed_at is not None and c.claimed_at <= stale_before)
        ]
        oldest = min(waiting, key=lambda c: (c.pending_since or c.opened_at, c.opened_at), default=None)
        return oldest.case_id if oldest else None

    async def claim(self, case_id: UUID, agent: str, now: datetime) -> Case:
        return self._put(replace(self.by_id[case_id], state="in_review", claimed_by=agent, claimed_at=now))

    async def save_checklist(self, case_id: UUID, items: list[dict[str, Any]]) -> None:
        self._put(replace(self.by_id[case_id], checklist=items))

    async def decide(self, case_id: UUID, decision: Decision) -> None:
        case = self.by_id[case_id]
        final = decision.final
        self._put(
            replace(
                case,
                state=decision.state,
                decision=decision.outcome,
                reason=decision.reason,
                decided_by=decision.agent,
                decided_at=decision.at if final else case.decided_at,
                claimed_by=case.claimed_by if final else None,
                claimed_at=case.claimed_at if final else None,
            )
        )


@dataclass
class InMemoryCaseEvents:
    events: list[dict[str, Any]] = field(default_factory=list)

    async def record(self, case_id: UUID, actor: str, action: str, at: datetime, **detail: Any) -> None:
        self.events.append({"case_id": case_id, "at": at, "actor": actor, "action": action, "detail": detail})

    async def trail(self, case_id: UUID) -> list[dict[str, Any]]:
        return [e for e in self.events if e["case_id"] == case_id]

    def actions(self, case_id: UUID) -> list[str]:
        return [e["action"] for e in self.events if e["case_id"] == case_id]


@dataclass
class InMemoryDocuments:
    rows: dict[UUID, NewDocument] = field(default_factory=dict)
    deleted: dict[UUID, datetime] = field(default_factory=dict)

    async def add(self, document: NewDocument) -> None:
        self.rows[document.document_id] = document

    async def of_case(self, case_id: UUID) -> list[dict[str, Any]]:
        return [
            {
                "document_id": d.document_id,
                "filename": d.filename,
                "deleted_at": self.deleted.get(d.document_id),
            }
            for d in sorted(self.rows.values(), key=lambda d: d.received_at)
            if d.case_id == case_id
        ]

    async def viewable(self, document_id: UUID) -> dict[str, Any] | None:
        document = self.rows.get(document_id)
        if document is None or document_id in self.deleted:
            return None
        return {"document_id": document_id, "object_key": document.object_key, "filename": document.filename}

    async def move_from_triage(self, triage_id: UUID, case_id: UUID) -> list[UUID]:
        moved = [
            d for d in self.rows.values() if d.triage_id == triage_id and d.document_id not in self.deleted
        ]
        for document in moved:
            self.rows[document.document_id] = replace(document, case_id=case_id)
        return [d.document_id for d in moved]

    async def past_retention(
        self, decided_before: datetime, received_before: datetime
    ) -> list[ExpiredDocument]:
        raise NotImplementedError("the sweep's selection is PostgreSQL's: see the integration tests")

    async def mark_deleted(self, document_id: UUID, now: datetime) -> bool:
        if document_id in self.deleted:
            return False
        self.deleted[document_id] = now
        return True


@dataclass
class InMemoryTriage:
    entries_by_id: dict[UUID, TriageEntry] = field(default_factory=dict)
    assigned: dict[UUID, UUID] = field(default_factory=dict)

    async def add(self, entry: TriageEntry) -> None:
        self.entries_by_id[entry.triage_id] = entry

    async def entries(self) -> list[dict[str, Any]]:
        return [{"triage_id": t, "assigned_to": self.assigned.get(t)} for t in self.entries_by_id]

    async def status(self, triage_id: UUID) -> TriageStatus:
        if triage_id not in self.entries_by_id:
            return "unknown"
        return "assigned" if triage_id in self.assigned else "open"

    async def assign(self, triage_id: UUID, case_id: UUID, agent: str, now: datetime) -> None:
        self.assigned[triage_id] = case_id


@dataclass
class KeptCode:
    stored: StoredCode
    order: CodeOrder
    send_failed_at: datetime | None = None


@dataclass
class InMemoryCodes:
    kept: dict[UUID, KeptCode] = field(default_factory=dict)

    def of(self, letter_id: UUID) -> list[KeptCode]:
        return sorted(
            (k for k in self.kept.values() if k.order.letter_id == letter_id),
            key=lambda k: k.stored.issued_at,
        )

    def _change(self, code_id: UUID, **changes: Any) -> None:
        self.kept[code_id].stored = replace(self.kept[code_id].stored, **changes)

    def _open(self, code: StoredCode, now: datetime) -> bool:
        return code.used_at is None and code.invalidated_at is None and code.expires_at > now

    async def serialise(self, letter_id: UUID) -> None:
        return None  # one test, one task: nothing runs concurrently

    async def latest(self, letter_id: UUID) -> tuple[StoredCode, CodeOrder] | None:
        codes = self.of(letter_id)
        return (codes[-1].stored, codes[-1].order) if codes else None

    async def get(self, code_id: UUID) -> StoredCode:
        return self.kept[code_id].stored

    async def issued_since(self, letter_id: UUID, since: datetime) -> Sequence[datetime]:
        return [
            k.stored.issued_at
            for k in self.of(letter_id)
            if k.stored.issued_at > since and k.send_failed_at is None
        ]

    async def replace_live(self, letter_id: UUID, now: datetime) -> None:
        for kept in self.of(letter_id):
            if kept.stored.used_at is None and kept.stored.invalidated_at is None:
                self._change(kept.stored.code_id, invalidated_at=now)

    async def add(
        self, order: CodeOrder, code_id: UUID, code_hmac: bytes, issued_at: datetime, expires_at: datetime
    ) -> None:
        stored = StoredCode(code_id, order.letter_id, code_hmac, issued_at, expires_at)
        self.kept[code_id] = KeptCode(stored, order)

    async def spend(self, code_id: UUID, now: datetime) -> UUID | None:
        kept = self.kept[code_id]
        if not self._open(kept.stored, now):
            return None
        self._change(code_id, used_at=now)
        return kept.order.case_id

    async def count_wrong_try(self, code_id: UUID, now: datetime, max_tries: int) -> int | None:
        code = self.kept[code_id].stored
        if not self._open(code, now):
            return None
        tries = code.tries + 1
        self._change(code_id, tries=tries, invalidated_at=now if tries >= max_tries else None)
        return tries

    async def void_unsent(self, code_id: UUID, at: datetime, reason: str) -> None:
        if kept := self.kept.get(code_id):
            kept.send_failed_at = at
            if kept.stored.invalidated_at is None:
                self._change(code_id, invalidated_at=at)


@dataclass
class InMemoryCallbacks:
    logged: list[dict[str, Any]] = field(default_factory=list)

    async def log(self, callback: Callback) -> None:
        self.logged.append(asdict(callback))

    async def of_case(self, case_id: UUID) -> list[dict[str, Any]]:
        return [c for c in self.logged if c["case_id"] == case_id]


@dataclass
class InMemoryLetterEvents:
    events: list[dict[str, Any]] = field(default_factory=list)

    async def record(
        self, letter_id: UUID, item_number: str, at: datetime, actor: str, action: str, detail: dict[str, Any]
    ) -> None:
        self.events.append(
            {
                "letter_id": letter_id,
                "item_number": item_number,
                "actor": actor,
                "action": action,
                "detail": detail,
            }
        )

    async def trail(self, item_number: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["item_number"] == item_number]


@dataclass
class InMemoryUnitOfWork:
    letters: InMemoryLetters = field(default_factory=InMemoryLetters)
    cases: InMemoryCases = field(default_factory=InMemoryCases)
    case_events: InMemoryCaseEvents = field(default_factory=InMemoryCaseEvents)
    documents: InMemoryDocuments = field(default_factory=InMemoryDocuments)
    triage: InMemoryTriage = field(default_factory=InMemoryTriage)
    codes: InMemoryCodes = field(default_factory=InMemoryCodes)
    callbacks: InMemoryCallbacks = field(default_factory=InMemoryCallbacks)
    letter_events: InMemoryLetterEvents = field(default_factory=InMemoryLetterEvents)
    published: list[Message] = field(default_factory=list)

    async def publish(self, message: Message) -> None:
        self.published.append(message)

    def sent(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.published if isinstance(m, kind)]

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[InMemoryUnitOfWork]:
        """The store as units of work of their own see it (nothing is rolled back)."""
        yield self


class InMemoryVault:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, content: bytes) -> None:
        self.objects[key] = content

    async def get(self, key: str) -> bytes:
        return self.objects[key]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)
