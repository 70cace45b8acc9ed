"""What the desk API answers, as models: FastAPI validates and serialises every answer
through them, they describe the responses in its OpenAPI document
(`/desk/api/openapi.json`, `docs/openapi/verification-desk.json`) for an external support
UI, and the tests check the answers against them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from lre_shared.contracts import CaseState, DocumentChannel, LockKind
from verification.domain.policy import ChecklistItem, UnmetRule

UNMET_RULES = (
    "`unmet` as rule codes with their parameters, in the same order, for a UI to word in its own"
    " language (a code it does not know: show its `text`)."
)


class Problem(BaseModel):
    """Every refusal, as RFC 9457 problem details (`application/problem+json`)."""

    type: str = Field(default="about:blank", description="`about:blank`: the status says what kind.")
    title: str = Field(description="The status's phrase, e.g. `Conflict`.")
    status: int
    detail: str = Field(description="What was wrong, and what to do.")
    instance: str = Field(description="The path asked for.")
    errors: dict[str, list[str]] | None = Field(
        default=None, description="422: each field (`items.0.number`) with its problems."
    )
    problems: list[str] | None = Field(
        default=None, description="What a decision still lacks (the checklist against the policy)."
    )
    unmet_rules: list[UnmetRule] | None = Field(
        default=None, description="`problems` as rule codes with their parameters, in the same order."
    )


class CaseSummary(BaseModel):
    case_id: UUID
    letter_id: UUID
    item_number: str = Field(description="Numéro de pli.")
    reference: str = Field(description="What the recipient writes on documents, e.g. LRE-7K3M9Q.")
    policy: str = Field(description="`default` or `cnb`.")
    state: CaseState
    document_channel: DocumentChannel
    code_channel: str
    code_address: str
    language: str
    opened_at: datetime
    pending_since: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    decision: str | None
    reason: str | None
    checklist: list[ChecklistItem]
    age_seconds: int = Field(description="Since the case was opened.")


class CaseList(BaseModel):
    cases: list[CaseSummary]
    target_minutes: int = Field(
        description="A case waiting longer than this (since `pending_since`, else `opened_at`) is overdue."
    )
    now: datetime = Field(description="The server's time of this answer, to count ages from.")


class Claimed(BaseModel):
    case: CaseSummary | None


class DocumentInfo(BaseModel):
    document_id: UUID
    channel: DocumentChannel
    filename: str
    content_type: str
    size: int
    sha256: str
    received_at: datetime
    deleted_at: datetime | None = Field(description="Set once deleted after the retention delay.")
    url: str | None = Field(default=None, description="Short-lived link showing the document.")
    url_expires_at: datetime | None = None


class DocumentList(BaseModel):
    documents: list[DocumentInfo]


class CallbackInfo(BaseModel):
    callback_id: UUID
    number: str
    called_at: datetime
    outcome: str
    agent: str


class RecipientInfo(BaseModel):
    recipient_name: str | None = Field(description="None once the recipient's details are forgotten.")
    recipient_company: str | None
    recipient_landline: str | None = Field(description="The firm's landline, to call back.")
    recipient_birth_date: date | None = Field(
        default=None,
        description="The birth date the sender declared, to compare with the identity documents"
        " (CPCE R.53-1); absent when the sender declared none.",
    )
    recipient_forgotten_at: datetime | None = Field(
        default=None,
        description="When the recipient's details were forgotten, the letter past its windows and"
        " the retention delay (GDPR art. 5(1)(e)); absent while they are kept.",
    )


class CaseDetail(CaseSummary):
    recipient: RecipientInfo | None
    unmet: list[str] = Field(description="What the checklist still lacks for the policy; empty: approvable.")
    unmet_rules: list[UnmetRule] = Field(description=UNMET_RULES)
    documents: list[DocumentInfo]
    callbacks: list[CallbackInfo]


class ChecklistSaved(BaseModel):
    unmet: list[str]
    unmet_rules: list[UnmetRule] = Field(description=UNMET_RULES)


class ChecklistChecked(BaseModel):
    unmet: list[str] = Field(description="What the checklist would still lack; empty: it satisfies it.")
    unmet_rules: list[UnmetRule] = Field(description=UNMET_RULES)


class Decided(BaseModel):
    case_id: UUID
    state: CaseState
    decision: str
    reason: str | None


class CallbackLogged(BaseModel):
    callback_id: UUID


class AuditEvent(BaseModel):
    event_id: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class AuditTrail(BaseModel):
    events: list[AuditEvent]


class LockLiftRequested(BaseModel):
    """The lift is on its way to the pickup site (which announces `LetterLockLifted`)."""

    letter_id: UUID
    item_number: str
    kinds: list[LockKind]
    requested_at: datetime


class LetterAuditEvent(AuditEvent):
    letter_id: UUID


class LetterAuditTrail(BaseModel):
    events: list[LetterAuditEvent]


class TriageEntry(BaseModel):
    triage_id: UUID
    channel: str
    sender: str
    subject: str
    excerpt: str
    problem: str
    received_at: datetime
    assigned_to: UUID | None
    assigned_by: str | None
    assigned_at: datetime | None
    documents: int


class TriageList(BaseModel):
    entries: list[TriageEntry]


class Assigned(BaseModel):
    case_id: UUID
    state: CaseState
    documents: list[UUID]


class OpenApiDocument(BaseModel):
    """This API's OpenAPI 3.1 description."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    paths: dict[str, Any]
