"""Expiry of letters' content (see `archive.domain.expiry` for the rule).

The archive learns the first notice (`notice.sent.v1`), the acceptance (`letter.accepted.v1`),
the signed AR (`receipt.signed.v1`) and the unclaimed letter (`letter.unclaimed.v1`); each
writes the fact, then `reschedule` writes when the content goes (`content_expires_at`, from
the rules profile), with the letter row locked, so two events at once leave the value both
facts give. `sweep` deletes what is due. The sweeper claims letters with `FOR UPDATE SKIP
LOCKED`, deletes their objects, publishes through the outbox and marks them, in one
transaction: several sweepers (replicas, a restart mid-run) never take the same letter, and a
crash before commit leaves the letter to the next run, which deletes again (deleting a
missing object is no error) and publishes once, since only the commit publishes.
"""

from __future__ import annotations

import logging
from uuid import UUID

from archive.adapters.storage import ContentStore
from archive.domain.expiry import RetentionPolicy
from archive.service_layer.ports import ExpiryFacts, Letters, UnitOfWork, UnitsOfWork
from archive.service_layer.sender_events import publish_and_tell
from archive.service_layer.uploads import letter_prefix
from lre_shared.clock import Clock
from lre_shared.contracts import (
    ContentHandoverFailed,
    LetterAccepted,
    LetterRefused,
    LetterUnclaimed,
    NoticeKind,
    NoticeSent,
    ReceiptSigned,
)

log = logging.getLogger(__name__)


async def reschedule(letters: Letters, letter_id: UUID, policy: RetentionPolicy) -> None:
    """Write when the letter's content goes, from what the archive knows of it now."""
    letter = await letters.expiry_facts(letter_id)
    if letter is not None:
        await _write_expiry(letters, letter, policy)


async def _write_expiry(letters: Letters, letter: ExpiryFacts, policy: RetentionPolicy) -> None:
    expires_at = policy.content_expires_at(
        window_closes_at=letter.window_closes_at,
        accepted_at=letter.accepted_at,
        receipt_signed_at=letter.receipt_signed_at,
    )
    if expires_at != letter.content_expires_at:
        await letters.schedule_content_expiry(letter.letter_id, expires_at)


async def reschedule_all(units: UnitsOfWork, *, policy: RetentionPolicy, batch: int = 500) -> int:
    """At start-up: every letter whose content is kept gets the expiry this deployment's rule
    gives (letters from before the rule was stored, or a changed `DOWNLOAD_HOURS`). Returns
    how many letters it looked at."""
    seen = 0
    after = UUID(int=0)
    while True:
        async with units() as uow:
            letters = await uow.letters.expiry_facts_after(after, batch)
            for letter in letters:
                await _write_expiry(uow.letters, letter, policy)
        seen += len(letters)
        if len(letters) < batch:
            return seen
        after = letters[-1].letter_id


async def on_notice_sent(event: NoticeSent, uow: UnitOfWork, *, policy: RetentionPolicy) -> None:
    """The first notice starts the acceptance window (CPCE R.53-3: from the day after); an
    SMS, call or fax alert does not (`RulesProfile.window_channels`)."""
    if event.kind is not NoticeKind.notice or not policy.rules.starts_window(event.channel):
        return
    await uow.letters.record_first_notice(
        event.correlation_id, event.sent_at, policy.window_closes_at(event.sent_at)
    )
    await reschedule(uow.letters, event.correlation_id, policy)


async def on_letter_accepted(event: LetterAccepted, uow: UnitOfWork, *, policy: RetentionPolicy) -> None:
    """The acceptance: the content waits for the signed AR (the download window starts then)."""
    if not await uow.letters.record_acceptance(event.correlation_id, event.accepted_at):
        log.warning(
            "acceptance of a letter the archive does not hold", extra={"letter_id": str(event.correlation_id)}
        )
    await reschedule(uow.letters, event.correlation_id, policy)


async def on_letter_refused(event: LetterRefused, uow: UnitOfWork) -> None:
    """The recipient refused the letter: the sender's status says so. The content stays until
    the window closes plus the grace, as for any letter never accepted."""
    await uow.letters.record_refusal(event.correlation_id, event.refused_at)


async def on_receipt_signed(event: ReceiptSigned, uow: UnitOfWork, *, policy: RetentionPolicy) -> None:
    """The acknowledgement of receipt is signed (CPCE R.53-3): the content is available to the
    recipient, and the download window runs from now."""
    await uow.letters.record_receipt_signature(event.correlation_id, event.signed_at)
    await reschedule(uow.letters, event.correlation_id, policy)


async def on_letter_unclaimed(event: LetterUnclaimed, uow: UnitOfWork, *, policy: RetentionPolicy) -> None:
    """The window closed without a decision (non réclamée): the pickup, which owns the window,
    says when it closed; the content goes the grace after that, even when the archive never
    heard of the notice."""
    await uow.letters.record_unclaimed(event.correlation_id, event.occurred_at, event.window_closed_at)
    await reschedule(uow.letters, event.correlation_id, policy)


async def sweep(units: UnitsOfWork, *, store: ContentStore, clock: Clock, batch: int = 50) -> int:
    """Delete the content of every letter that is due; returns how many letters it swept."""
    swept = 0
    while True:
        async with units() as uow:
            now = clock()
            # `content_expires_at` is the rules profile's (`reschedule`): the sweeper only
            # compares it with the clock.
            due = await uow.letters.content_due(now, batch)
            for letter in due:
                for key in await uow.documents.object_keys(letter.letter_id):
                    await store.delete(key)
                # And what the letter's rows no longer name: the envelopes later ones replaced.
                await store.delete_under(letter_prefix(letter.letter_id))
                if letter.accepted_at is not None and letter.handed_over_at is None:
                    # ETSI EN 319 522 ContentHandoverFailure: accepted, never downloaded.
                    await publish_and_tell(
                        uow,
                        ContentHandoverFailed(
                            correlation_id=letter.letter_id,
                            item_number=letter.item_number,
                            window_closed_at=letter.content_expires_at,
                        ),
                    )
                await uow.letters.record_content_deleted(letter.letter_id, now)
                log.info("content deleted", extra={"letter_id": str(letter.letter_id)})
        swept += len(due)
        if len(due) < batch:
            return swept
