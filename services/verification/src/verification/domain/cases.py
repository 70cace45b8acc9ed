"""What the desk keeps of a letter and of its verification case: plain records, free of I/O,
that the repositories hand to the use cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from lre_shared.contracts import CaseState
from verification.domain.policy import PolicyName

CodeChannel = Literal["email", "sms"]
Language = Literal["fr", "en"]
CLOSED = (CaseState.approved.value, CaseState.rejected.value)
# Documents arriving move a case back into the agents' queue from these states.
WAITING = (CaseState.awaiting_documents.value, CaseState.more_documents.value)


@dataclass(frozen=True)
class Recipient:
    """Whom the sender said to expect, and where they may receive a code."""

    name: str
    company: str | None
    email: str | None
    mobile: str | None
    landline: str | None
    # As the sender declared it, if they did: the agent compares it with the identity
    # documents (CPCE R.53-1, identifying the recipient, not merely someone of that name).
    birth_date: date | None = None


@dataclass(frozen=True)
class RecipientRetention:
    """How long the desk keeps a letter's recipient details (GDPR art. 5(1)(e), storage
    limitation): only while the letter can still need the desk, plus the time its identity
    documents are kept.

    A letter needs the desk (a case opened, documents received, a code sent) only while it
    can still be accepted and its receipt signed: at most `content_life` after its notice
    (CPCE R.53-3: the 15-day acceptance window, its grace, the download window), counted
    from when the desk learnt the letter, at its deposit, which the notice follows at once
    (the retention delay covers a notice sent late). Its
    recipient is then forgotten `retention` later once none of its cases awaits a decision
    (the documents' delay after a decision), and `longest` later in any case (a case never
    decided: the recipient gave up)."""

    content_life: timedelta
    retention: timedelta
    longest: timedelta

    def decided_before(self, now: datetime) -> datetime:
        """Letters learnt before this, with no case undecided, are forgotten."""
        return now - (self.content_life + self.retention)

    def known_before(self, now: datetime) -> datetime:
        """Letters learnt before this are forgotten whatever their cases."""
        return now - (self.content_life + self.longest)

    def forgotten(self, known_at: datetime, *, undecided: bool, now: datetime) -> bool:
        """Whether a letter learnt at `known_at` (`undecided`: a case of it awaits a decision)
        has its recipient forgotten at `now`."""
        if known_at < self.known_before(now):
            return True
        return not undecided and known_at < self.decided_before(now)


@dataclass(frozen=True)
class Letter:
    """A letter as the desk knows it, learnt when it was deposited."""

    letter_id: UUID
    item_number: str
    policy: PolicyName
    status: str  # deposited, accepted or refused
    recipient_email: str | None
    recipient_mobile: str | None
    # Set once the retention sweep forgot the recipient: the letter is past its window.
    recipient_forgotten_at: datetime | None = None


@dataclass(frozen=True)
class Channels:
    """How the recipient sends documents, and where their code goes (and in which language)."""

    document_channel: str
    code_channel: CodeChannel
    code_address: str
    language: Language


@dataclass(frozen=True)
class Case:
    """A verification case, field for field as the desk API shows it."""

    case_id: UUID
    letter_id: UUID
    item_number: str
    reference: str
    policy: PolicyName
    state: str
    document_channel: str
    code_channel: CodeChannel
    code_address: str
    language: Language
    opened_at: datetime
    pending_since: datetime | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision: str | None = None
    reason: str | None = None
    checklist: list[dict[str, Any]] = field(default_factory=list)

    @property
    def channels(self) -> Channels:
        return Channels(self.document_channel, self.code_channel, self.code_address, self.language)


@dataclass(frozen=True)
class CodeOrder:
    """A code to issue: for which case and letter, and where and in which language it goes."""

    case_id: UUID
    letter_id: UUID
    item_number: str
    channel: CodeChannel
    address: str
    language: Language


@dataclass(frozen=True)
class Decision:
    """An agent's decision on a case: a final one (approved, rejected) ends the claim."""

    state: str
    outcome: str
    reason: str | None
    agent: str
    at: datetime

    @property
    def final(self) -> bool:
        return self.outcome in CLOSED


@dataclass(frozen=True)
class Callback:
    """A phone call to the firm's landline, logged by the agent who made it."""

    callback_id: UUID
    case_id: UUID
    number: str
    called_at: datetime
    outcome: str
    agent: str
    logged_at: datetime


@dataclass(frozen=True)
class NewDocument:
    """An identity document kept: its object in the vault, its row here."""

    document_id: UUID
    case_id: UUID | None
    triage_id: UUID | None
    channel: str
    filename: str
    content_type: str
    size: int
    sha256: str
    object_key: str
    received_at: datetime


@dataclass(frozen=True)
class ExpiredDocument:
    document_id: UUID
    case_id: UUID | None
    object_key: str


@dataclass(frozen=True)
class TriageEntry:
    """An inbound message matched to no open case, waiting for a supervisor."""

    triage_id: UUID
    channel: str
    sender: str
    subject: str
    excerpt: str
    problem: str
    received_at: datetime
