"""What the desk's use cases need from their store: the letters it learnt of, verification
cases and their audit trail, identity documents, the triage list, one-time codes and phone
callbacks, all inside one unit of work that also carries the outbox."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from lre_shared import units
from verification.domain.cases import (
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

# A dict per row for what the desk API only shows (documents, callbacks, audit trails).
View = dict[str, Any]
TriageStatus = Literal["unknown", "open", "assigned"]


class Letters(Protocol):
    async def learn(self, letter_id: UUID, item_number: str, policy: str, recipient: Recipient) -> None:
        """Keep a deposited letter; one already known stays as it is."""

    async def set_status(self, letter_id: UUID, status: Literal["accepted", "refused"]) -> None: ...

    async def hold_codes(self, letter_id: UUID, at: datetime, until: datetime) -> None:
        """The pickup site held the letter's codes at `at` until `until`: ignored when a later
        change was already applied; two overlapping holds keep the later end."""

    async def release_codes(self, letter_id: UUID, at: datetime) -> None:
        """The pickup site lifted its hold at `at`, unless a later change was applied."""

    async def codes_held_until(self, letter_id: UUID, now: datetime) -> datetime | None: ...

    async def locked(self, letter_id: UUID) -> Letter | None:
        """The letter, held against concurrent changes until the unit of work ends."""

    async def declared_address(self, letter_id: UUID, channel: CodeChannel) -> str | None: ...

    async def recipient(self, letter_id: UUID) -> View | None:
        """Name, company, landline and declared birth date (None when the sender declared
        none): what an agent checks documents against; and when they were forgotten (all
        None then)."""

    async def with_item_number(self, item_number: str) -> UUID | None: ...

    async def recipient_forgotten_at(self, letter_id: UUID) -> datetime | None:
        """When the retention sweep forgot the letter's recipient; None while it is kept."""

    async def forget_recipients(
        self, decided_before: datetime, known_before: datetime, now: datetime
    ) -> list[tuple[UUID, list[UUID]]]:
        """Forget the recipient of up to a thousand letters not forgotten yet: learnt before
        `decided_before` with no case undecided, or learnt before `known_before`. Each as its
        id and its cases' ids; a letter another sweep forgot meanwhile is not among them."""


class Cases(Protocol):
    async def get(self, case_id: UUID, *, lock: bool = False) -> Case | None: ...

    async def of_letter(self, case_id: UUID, letter_id: UUID) -> Case | None:
        """The case if it is the letter's, held until the unit of work ends."""

    async def current(self, letter_id: UUID) -> Case | None:
        """The letter's latest case not rejected, held until the unit of work ends."""

    async def last_approved(self, letter_id: UUID) -> Case | None: ...

    async def open_with_reference(self, reference: str) -> Case | None:
        """The undecided case `reference` names, held until the unit of work ends."""

    async def open(
        self, case_id: UUID, letter: Letter, channels: Channels, now: datetime, draw: Callable[[], str]
    ) -> Case:
        """A new case awaiting documents, under a reference `draw`n until one is free."""

    async def choose_channels(self, case_id: UUID, channels: Channels) -> Case: ...

    async def choose_code_channel(self, case_id: UUID, channel: CodeChannel, address: str) -> None: ...

    async def set_language(self, letter_id: UUID, language: Language) -> None:
        """For the letter's cases not rejected."""

    async def language(self, case_id: UUID) -> Language | None: ...

    async def documents_arrived(self, case_id: UUID, now: datetime) -> str:
        """Back in the agents' queue if the case waited for documents; its state after."""

    async def wait_for_agent(self, case_id: UUID, now: datetime, reason: str) -> None:
        """In the agents' queue if it waited for the recipient, with `reason` on it (an
        identity provider's sign-in that did not settle the case)."""

    async def queue(self, state: str | None) -> list[Case]:
        """Cases in `state` (None: every undecided one), longest waiting first."""

    async def next_waiting(self, stale_before: datetime) -> UUID | None:
        """The oldest case waiting for an agent (or held since before `stale_before`), locked
        so that no concurrent claim gets it, skipping those other claims hold."""

    async def claim(self, case_id: UUID, agent: str, now: datetime) -> Case: ...

    async def save_checklist(self, case_id: UUID, items: list[dict[str, Any]]) -> None: ...

    async def decide(self, case_id: UUID, decision: Decision) -> None:
        """Record the decision; a final one ends the claim and dates the case's decision."""


class CaseEvents(Protocol):
    """A case's audit trail: append-only."""

    async def record(self, case_id: UUID, actor: str, action: str, at: datetime, **detail: Any) -> None: ...

    async def trail(self, case_id: UUID) -> list[View]: ...


class Documents(Protocol):
    """Identity documents: their rows (the objects are in the vault)."""

    async def add(self, document: NewDocument) -> None: ...

    async def of_case(self, case_id: UUID) -> list[View]: ...

    async def viewable(self, document_id: UUID) -> View | None:
        """Filename, content type and object key of a document not yet deleted."""

    async def move_from_triage(self, triage_id: UUID, case_id: UUID) -> list[UUID]: ...

    async def past_retention(
        self, decided_before: datetime, received_before: datetime
    ) -> list[ExpiredDocument]:
        """Up to a thousand documents to delete: of cases decided before `decided_before`,
        unmatched ones received before it, and any received before `received_before`."""

    async def mark_deleted(self, document_id: UUID, now: datetime) -> bool:
        """False when it was marked already."""


class Triage(Protocol):
    async def add(self, entry: TriageEntry) -> None: ...

    async def entries(self) -> list[View]: ...

    async def status(self, triage_id: UUID) -> TriageStatus:
        """Whether the entry exists and is assigned, held until the unit of work ends."""

    async def assign(self, triage_id: UUID, case_id: UUID, agent: str, now: datetime) -> None: ...


class Codes(Protocol):
    """One-time codes, kept as their HMAC."""

    async def serialise(self, letter_id: UUID) -> None:
        """Wait for, then keep until the unit of work ends, the letter's right to issue codes."""

    async def latest(self, letter_id: UUID) -> tuple[StoredCode, CodeOrder] | None: ...

    async def get(self, code_id: UUID) -> StoredCode: ...

    async def issued_since(self, letter_id: UUID, since: datetime) -> Sequence[datetime]:
        """When the letter's codes issued after `since` were, leaving out those never sent."""

    async def replace_live(self, letter_id: UUID, now: datetime) -> None:
        """Invalidate the letter's code still open, if any."""

    async def add(
        self, order: CodeOrder, code_id: UUID, code_hmac: bytes, issued_at: datetime, expires_at: datetime
    ) -> None: ...

    async def spend(self, code_id: UUID, now: datetime) -> UUID | None:
        """Use the code if still open; its case, or None when it was not open any more."""

    async def count_wrong_try(self, code_id: UUID, now: datetime, max_tries: int) -> int | None:
        """Count a wrong try if the code is still open (the last allowed one invalidates it);
        the tries so far, or None when it was not open any more."""

    async def void_unsent(self, code_id: UUID, at: datetime, reason: str) -> None: ...


class Callbacks(Protocol):
    async def log(self, callback: Callback) -> None: ...

    async def of_case(self, case_id: UUID) -> list[View]: ...


class LetterEvents(Protocol):
    """A letter's audit trail (its locks lifted): append-only."""

    async def record(
        self, letter_id: UUID, item_number: str, at: datetime, actor: str, action: str, detail: dict[str, Any]
    ) -> None: ...

    async def trail(self, item_number: str) -> list[View]: ...


class DocumentVault(Protocol):
    """Where identity documents themselves are kept (encrypted), each under its object key."""

    async def put(self, key: str, content: bytes) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def delete(self, key: str) -> None: ...


class UnitOfWork(units.UnitOfWork, Protocol):
    """One transaction: what it changes, and the messages it publishes on commit (outbox)."""

    @property
    def letters(self) -> Letters: ...
    @property
    def cases(self) -> Cases: ...
    @property
    def case_events(self) -> CaseEvents: ...
    @property
    def documents(self) -> Documents: ...
    @property
    def triage(self) -> Triage: ...
    @property
    def codes(self) -> Codes: ...
    @property
    def callbacks(self) -> Callbacks: ...
    @property
    def letter_events(self) -> LetterEvents: ...


UnitsOfWork = units.UnitsOfWork[UnitOfWork]
