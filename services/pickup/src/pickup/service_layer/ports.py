"""What the pickup use cases need from the world, in the journey's words.

The PostgreSQL implementations are in `pickup.adapters.postgres`; the bus requests to other
services in `pickup.adapters.services`. A bus handler gets a `UnitOfWork` built from the
bus's transaction; a page's use case gets the `Storage`, whose repositories answer single
statements and whose `unit_of_work()` opens a transaction with its outbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, TypeVar
from uuid import UUID

from lre_shared import units
from lre_shared.contracts import (
    CaseState,
    CodeFailed,
    DocumentChannel,
    Language,
    LetterDeposited,
    LockKind,
    Message,
    VerificationCaseOpened,
    VerificationDecided,
)
from pickup.domain.letter import Case, DueLetter, LetterHolds, LetterView, Signature
from pickup.domain.provider import IdentityRequest, ProviderIdentity

R = TypeVar("R", bound=Message)


class ProviderFailed(Exception):
    """The identity provider could not be reached, or what it sent back does not hold (a
    refused code, an ID token whose signature, issuer, audience, expiry or nonce is wrong)."""


class IdentityProvider(Protocol):
    """The recipients' identity provider (OpenID Connect; `pickup.adapters.oidc`)."""

    async def authorization_url(self, request: IdentityRequest, redirect_uri: str) -> str:
        """Where to send the visitor to sign in; raises `ProviderFailed`."""

    async def identify(self, request: IdentityRequest, code: str, redirect_uri: str) -> ProviderIdentity:
        """Who signed in, from the ID token the `code` is exchanged for, once verified;
        raises `ProviderFailed`."""


class ServiceUnavailable(Exception):
    """Another service did not answer in time: the page says so and offers to retry."""


class Letters(Protocol):
    async def deposit(self, event: LetterDeposited, deadline: date) -> None: ...

    async def first_notice_sent(self, letter_id: UUID, sent_at: datetime, deadline: date) -> None:
        """Start the window from this notice, unless an earlier one started it."""

    async def notice_failed(self, letter_id: UUID) -> None: ...

    async def get(self, letter_id: UUID, *, for_update: bool = False) -> LetterView | None: ...

    async def with_item_number(self, item_number: str) -> LetterView | None: ...

    async def change_language(self, letter_id: UUID, language: Language) -> str | None:
        """The letter's item number when its language changed; None when it was already that."""

    async def decide(self, letter_id: UUID, state: str, decided_at: datetime) -> None: ...

    async def record_signature(self, signature: Signature) -> str | None:
        """The item number when the accepted, unsigned letter is now signed; else None."""

    async def due_unclaimed(self, today: date, batch: int) -> Sequence[DueLetter]:
        """Up to `batch` awaiting letters whose deadline is before `today`, taken for this
        transaction (others sweeping at once skip them)."""

    async def mark_unclaimed(self, letter_id: UUID, at: datetime) -> None: ...

    async def holds(self, letter_id: UUID, kind: LockKind) -> str: ...

    async def settle_holds(self, letter_id: UUID, kind: LockKind, judged: str, holds: str) -> str | None:
        """Store `holds` and count a wrong answer, only if the stored holds are still
        `judged`: the item number if so, else None."""

    async def holds_for_update(self, letter_id: UUID) -> LetterHolds | None: ...

    async def lift_holds(self, letter_id: UUID, kinds: Sequence[LockKind]) -> None: ...


class Cases(Protocol):
    """The verification cases of the one-time-code path, as this site keeps them."""

    async def of_letter(self, letter_id: UUID) -> Case | None: ...

    async def opened(
        self,
        letter_id: UUID,
        opened: VerificationCaseOpened,
        document_channel: DocumentChannel,
        code_channel: str,
    ) -> None: ...

    async def document_added(self, letter_id: UUID, state: CaseState | None) -> None: ...

    async def code_failed(self, event: CodeFailed) -> None: ...

    async def code_requested(self, letter_id: UUID, channel: str | None) -> None: ...

    async def decided(self, event: VerificationDecided) -> bool:
        """Apply the desk's decision; False for an unknown letter or an older decision."""


class IdentityRequests(Protocol):
    """Sign-ins at the identity provider under way, by their `state` (single use)."""

    async def add(self, request: IdentityRequest) -> None: ...

    async def take(self, state: str) -> IdentityRequest | None:
        """The request, removed: a state is worth one callback."""

    async def drop_older_than(self, moment: datetime) -> None: ...


class ReceiptsInCheck(Protocol):
    """Signed ARs whose check by the signer outlasted the upload's wait, one per letter, kept
    for the page's button to ask again with (whichever replica of the site serves it)."""

    async def keep(self, letter_id: UUID, pdf: bytes, kept_at: datetime) -> None:
        """Keep `pdf` for the letter, in place of one kept before."""

    async def kept(self, letter_id: UUID) -> bool: ...

    async def get(self, letter_id: UUID) -> bytes | None: ...

    async def drop(self, letter_id: UUID) -> None: ...

    async def drop_older_than(self, moment: datetime) -> None: ...


class Sessions(Protocol):
    async def start(self, session_id: str) -> None: ...

    async def end(self, session_id: str) -> None: ...

    async def end_idle(self, idle: timedelta) -> None: ...

    async def idle_for(self, session_id: str) -> timedelta | None:
        """How long since the session was last seen; None when it has ended."""

    async def seen(self, session_id: str) -> None: ...


class AddressFailures(Protocol):
    """Wrong answers per client address and kind of answer."""

    async def locked_until(self, kind: str, address: str, now: datetime) -> datetime | None: ...

    async def count(self, kind: str, address: str, now: datetime, window: timedelta) -> int:
        """Count one more wrong answer (a new count once `window` has passed); the count."""

    async def lock(self, kind: str, address: str, now: datetime, until: datetime) -> None: ...


class Records(Protocol):
    @property
    def letters(self) -> Letters: ...

    @property
    def cases(self) -> Cases: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def address_failures(self) -> AddressFailures: ...

    @property
    def identity_requests(self) -> IdentityRequests: ...

    @property
    def receipts_in_check(self) -> ReceiptsInCheck: ...


class UnitOfWork(Records, units.UnitOfWork, Protocol):
    """One transaction and its outbox: what it publishes goes out only if it commits."""


class Storage(Records, Protocol):
    """The pages' way in: repositories for single statements, and units of work."""

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]: ...


class OtherServices(Protocol):
    """Requests to other services over the bus, answered while the recipient waits."""

    async def ask(self, query: Message, answer: type[R]) -> R:
        """The answer; raises `ServiceUnavailable` when none comes in time."""


@dataclass(frozen=True)
class ArchiveStream:
    chunks: AsyncIterator[bytes]
    # The archive's length, when it announced one for the bytes as sent (no content encoding).
    length: str | None


class Archive(Protocol):
    """The letter's content, through the short-lived links the archive issues."""

    async def open(self, url: str, name: str) -> ArchiveStream:
        """The body at `url` as it arrives; raises `ServiceUnavailable` (naming `name`) when
        the archive cannot be reached or does not serve it."""
