"""In-memory stand-ins for the pickup service's records (`pickup.service_layer.ports`), for
unit tests of the use cases: letters and cases as values, and the messages a unit of work
published, kept only when it ends without an error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from lre_shared.contracts import (
    CaseState,
    CodeFailed,
    DocumentChannel,
    Language,
    LetterDeposited,
    LockKind,
    Message,
    SignatureMethod,
    VerificationCaseOpened,
    VerificationDecided,
)
from pickup.domain.letter import Case, DueLetter, LetterHolds, LetterView, Signature
from pickup.domain.provider import IdentityRequest

HOLDS = {LockKind.identity: "identity_holds", LockKind.code: "code_holds"}
FAILURES = {LockKind.identity: "identity_failures", LockKind.code: "code_failures"}


def a_letter(**changes: Any) -> LetterView:
    letter = LetterView(
        letter_id=uuid4(),
        item_number="123456789012",
        state="awaiting",
        recipient={"first_name": "Camille", "last_name": "Martin", "email": "camille@example.org"},
        sender={"name": "Exemple SAS"},
        documents=[],
        deposited_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        deadline=date(2026, 3, 17),
        decided_at=None,
        identity_failures=0,
        signature_methods=(SignatureMethod.certificate,),
        signed_at=None,
        code_failures=0,
        first_notice_at=datetime(2026, 3, 1, 9, 5, tzinfo=UTC),
    )
    return replace(letter, **changes)


@dataclass
class FakeLetters:
    rows: dict[UUID, LetterView] = field(default_factory=dict)
    notice_failures: dict[UUID, int] = field(default_factory=dict)

    def add(self, letter: LetterView) -> LetterView:
        self.rows[letter.letter_id] = letter
        return letter

    def _change(self, letter_id: UUID, **changes: Any) -> None:
        self.rows[letter_id] = replace(self.rows[letter_id], **changes)

    async def deposit(self, event: LetterDeposited, deadline: date) -> None:
        self.add(
            a_letter(
                letter_id=event.correlation_id,
                item_number=event.item_number,
                deadline=deadline,
                first_notice_at=None,
                signature_methods=tuple(event.signature_methods),
            )
        )

    async def first_notice_sent(self, letter_id: UUID, sent_at: datetime, deadline: date) -> None:
        row = self.rows.get(letter_id)
        if row is not None and (row.first_notice_at is None or row.first_notice_at > sent_at):
            self._change(letter_id, first_notice_at=sent_at, deadline=deadline)

    async def notice_failed(self, letter_id: UUID) -> None:
        self.notice_failures[letter_id] = self.notice_failures.get(letter_id, 0) + 1

    async def get(self, letter_id: UUID, *, for_update: bool = False) -> LetterView | None:
        return self.rows.get(letter_id)

    async def with_item_number(self, item_number: str) -> LetterView | None:
        return next((letter for letter in self.rows.values() if letter.item_number == item_number), None)

    async def change_language(self, letter_id: UUID, language: Language) -> str | None:
        letter = self.rows.get(letter_id)
        if letter is None or letter.language == language:
            return None
        self._change(letter_id, language=language)
        return letter.item_number

    async def decide(self, letter_id: UUID, state: str, decided_at: datetime) -> None:
        self._change(letter_id, state=state, decided_at=decided_at)

    async def record_signature(self, signature: Signature) -> str | None:
        letter = self.rows.get(signature.letter_id)
        if letter is None or letter.state != "accepted" or letter.signed_at is not None:
            return None
        self._change(signature.letter_id, signed_at=signature.signed_at)
        return letter.item_number

    async def due_unclaimed(self, today: date, batch: int) -> Sequence[DueLetter]:
        due = sorted(
            (
                letter
                for letter in self.rows.values()
                if letter.state == "awaiting"
                and letter.first_notice_at is not None
                and letter.deadline < today
            ),
            key=lambda letter: (letter.deadline, letter.letter_id),
        )
        return [DueLetter(letter.letter_id, letter.item_number, letter.deadline) for letter in due[:batch]]

    async def mark_unclaimed(self, letter_id: UUID, at: datetime) -> None:
        self._change(letter_id, state="unclaimed")

    async def holds(self, letter_id: UUID, kind: LockKind) -> str:
        stored: str = getattr(self.rows[letter_id], HOLDS[kind])
        return stored

    async def settle_holds(self, letter_id: UUID, kind: LockKind, judged: str, holds: str) -> str | None:
        letter = self.rows[letter_id]
        if getattr(letter, HOLDS[kind]) != judged:
            return None
        self._change(letter_id, **{HOLDS[kind]: holds, FAILURES[kind]: getattr(letter, FAILURES[kind]) + 1})
        return letter.item_number

    async def holds_for_update(self, letter_id: UUID) -> LetterHolds | None:
        letter = self.rows.get(letter_id)
        if letter is None:
            return None
        return LetterHolds(letter.item_number, {str(kind): getattr(letter, HOLDS[kind]) for kind in LockKind})

    async def lift_holds(self, letter_id: UUID, kinds: Sequence[LockKind]) -> None:
        self._change(letter_id, **{HOLDS[kind]: "{}" for kind in kinds})


@dataclass
class FakeCases:
    rows: dict[UUID, Case] = field(default_factory=dict)

    async def of_letter(self, letter_id: UUID) -> Case | None:
        return self.rows.get(letter_id)

    async def opened(
        self,
        letter_id: UUID,
        opened: VerificationCaseOpened,
        document_channel: DocumentChannel,
        code_channel: str,
    ) -> None:
        assert opened.case_id is not None
        self.rows[letter_id] = Case(
            case_id=opened.case_id,
            reference=opened.reference,
            state=opened.state or CaseState.awaiting_documents,
            reason=None,
            document_channel=str(document_channel),
            code_channel=code_channel,
            inbound_email=opened.inbound_email,
            inbound_mms=opened.inbound_mms,
            inbound_fax=opened.inbound_fax,
            max_document_bytes=opened.max_document_bytes,
            documents_sent=0,
        )

    async def document_added(self, letter_id: UUID, state: CaseState | None) -> None:
        case = self.rows[letter_id]
        self.rows[letter_id] = replace(
            case, documents_sent=case.documents_sent + 1, state=state or case.state
        )

    async def code_failed(self, event: CodeFailed) -> None:
        case = self.rows[event.correlation_id]
        self.rows[event.correlation_id] = replace(
            case, code_failure=event.reason[:1000], code_failed_channel=event.channel
        )

    async def code_requested(self, letter_id: UUID, channel: str | None) -> None:
        case = self.rows[letter_id]
        self.rows[letter_id] = replace(
            case, code_failure=None, code_failed_channel=None, code_channel=channel or case.code_channel
        )

    async def decided(self, event: VerificationDecided) -> bool:
        case = self.rows.get(event.correlation_id)
        if case is None:
            return False
        self.rows[event.correlation_id] = replace(
            case, case_id=event.case_id, state=CaseState(event.outcome), reason=event.reason
        )
        return True


@dataclass
class FakeSessions:
    now: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    seen_at: dict[str, datetime] = field(default_factory=dict)

    async def start(self, session_id: str) -> None:
        self.seen_at[session_id] = self.now

    async def end(self, session_id: str) -> None:
        self.seen_at.pop(session_id, None)

    async def end_idle(self, idle: timedelta) -> None:
        self.seen_at = {sid: seen for sid, seen in self.seen_at.items() if seen >= self.now - idle}

    async def idle_for(self, session_id: str) -> timedelta | None:
        seen = self.seen_at.get(session_id)
        return None if seen is None else self.now - seen

    async def seen(self, session_id: str) -> None:
        self.seen_at[session_id] = self.now


@dataclass
class FakeAddressFailures:
    # (kind, address): [failures, window_start, locked_until]
    rows: dict[tuple[str, str], list[Any]] = field(default_factory=dict)

    async def locked_until(self, kind: str, address: str, now: datetime) -> datetime | None:
        row = self.rows.get((kind, address))
        until: datetime | None = row[2] if row is not None else None
        return until if until is not None and until > now else None

    async def count(self, kind: str, address: str, now: datetime, window: timedelta) -> int:
        row = self.rows.setdefault((kind, address), [0, now, None])
        if row[1] + window <= now:
            row[0], row[1] = 0, now
        row[0] += 1
        failures: int = row[0]
        return failures

    async def lock(self, kind: str, address: str, now: datetime, until: datetime) -> None:
        self.rows[(kind, address)] = [0, now, until]


@dataclass
class FakeIdentityRequests:
    by_state: dict[str, IdentityRequest] = field(default_factory=dict)

    async def add(self, request: IdentityRequest) -> None:
        self.by_state[request.state] = request

    async def take(self, state: str) -> IdentityRequest | None:
        return self.by_state.pop(state, None)

    async def drop_older_than(self, moment: datetime) -> None:
        self.by_state = {k: r for k, r in self.by_state.items() if r.started_at >= moment}


@dataclass
class FakeReceiptsInCheck:
    # letter_id: (pdf, kept_at)
    rows: dict[UUID, tuple[bytes, datetime]] = field(default_factory=dict)

    async def keep(self, letter_id: UUID, pdf: bytes, kept_at: datetime) -> None:
        self.rows[letter_id] = (pdf, kept_at)

    async def kept(self, letter_id: UUID) -> bool:
        return letter_id in self.rows

    async def get(self, letter_id: UUID) -> bytes | None:
        row = self.rows.get(letter_id)
        return None if row is None else row[0]

    async def drop(self, letter_id: UUID) -> None:
        self.rows.pop(letter_id, None)

    async def drop_older_than(self, moment: datetime) -> None:
        self.rows = {k: row for k, row in self.rows.items() if row[1] >= moment}


@dataclass
class FakeUnitOfWork:
    letters: FakeLetters
    cases: FakeCases
    sessions: FakeSessions
    address_failures: FakeAddressFailures
    identity_requests: FakeIdentityRequests = field(default_factory=FakeIdentityRequests)
    receipts_in_check: FakeReceiptsInCheck = field(default_factory=FakeReceiptsInCheck)
    published: list[Message] = field(default_factory=list)

    async def publish(self, message: Message) -> None:
        self.published.append(message)


@dataclass
class FakeStorage:
    letters: FakeLetters = field(default_factory=FakeLetters)
    cases: FakeCases = field(default_factory=FakeCases)
    sessions: FakeSessions = field(default_factory=FakeSessions)
    address_failures: FakeAddressFailures = field(default_factory=FakeAddressFailures)
    identity_requests: FakeIdentityRequests = field(default_factory=FakeIdentityRequests)
    receipts_in_check: FakeReceiptsInCheck = field(default_factory=FakeReceiptsInCheck)
    # What units of work published and committed, in order.
    published: list[Message] = field(default_factory=list)

    def bus_unit_of_work(self) -> FakeUnitOfWork:
        """A unit of work as a bus handler gets it (the caller checks `.published`)."""
        return FakeUnitOfWork(
            self.letters,
            self.cases,
            self.sessions,
            self.address_failures,
            self.identity_requests,
            self.receipts_in_check,
        )

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[FakeUnitOfWork]:
        uow = self.bus_unit_of_work()
        yield uow
        self.published.extend(uow.published)
