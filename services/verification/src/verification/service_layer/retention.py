"""Identity documents are personal data kept no longer than needed (DESIGN §6; GDPR art.
5(1)(e)): each is deleted from the store a configurable time (7 days by default) after its
case's final decision, an unmatched one that long after it arrived, and any one after
a longer bound (30 days by default) when its case was never decided. The row stays,
marked deleted, with its hash; the decision, the checklist and the audit trail stay too.

The recipient details the documents were compared with (name, company, email, mobile,
landline, birth date) go the same way, by letter: once the letter can no longer need the
desk (past its acceptance and download windows, CPCE R.53-3) and the documents' delay after
that (`domain.cases.RecipientRetention`). The letter's row stays, its recipient marked
forgotten; its cases, decisions and audit trail stay too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from lre_shared.clock import Clock
from verification.domain.cases import RecipientRetention
from verification.service_layer.ports import DocumentVault, UnitsOfWork

log = logging.getLogger(__name__)


async def sweep(
    transactions: UnitsOfWork,
    vault: DocumentVault,
    *,
    retention: timedelta,
    longest: timedelta = timedelta(days=30),
    now: datetime,
) -> int:
    """Delete every document past its retention; returns how many. Safe to run twice.

    `longest` bounds what a case never decided (the recipient gave up) keeps."""
    async with transactions() as uow:
        expired = await uow.documents.past_retention(now - retention, now - longest)
    for document in expired:
        # The object first: a crash in between leaves a row to sweep again, never an object
        # nobody would delete.
        await vault.delete(document.object_key)
        async with transactions() as uow:
            marked = await uow.documents.mark_deleted(document.document_id, now)
            # Another replica's sweep marked it meanwhile: its audit entry is written already.
            if marked and document.case_id is not None:
                await uow.case_events.record(
                    document.case_id, "retention", "document_deleted", now, document_id=document.document_id
                )
    if expired:
        log.info("deleted %d identity documents past their retention", len(expired))
    return len(expired)


# How many letters `Letters.forget_recipients` forgets at most in one transaction.
FORGET_BATCH = 1000


async def forget_recipients(transactions: UnitsOfWork, rule: RecipientRetention, *, now: datetime) -> int:
    """Forget the recipient of every letter past `rule` (GDPR art. 5(1)(e)); returns how many.
    Safe to run twice, and on two replicas at once: each letter is forgotten, and its cases'
    audit trails told, once."""
    forgotten = 0
    while True:
        async with transactions() as uow:
            letters = await uow.letters.forget_recipients(
                rule.decided_before(now), rule.known_before(now), now
            )
            for _letter_id, case_ids in letters:
                for case_id in case_ids:
                    await uow.case_events.record(case_id, "retention", "recipient_forgotten", now)
        forgotten += len(letters)
        if len(letters) < FORGET_BATCH:
            break
    if forgotten:
        log.info("forgot the recipient details of %d letters past their retention", forgotten)
    return forgotten


def sweeper(
    transactions: UnitsOfWork,
    vault: DocumentVault,
    retention: timedelta,
    longest: timedelta,
    clock: Clock,
    *,
    content_life: timedelta,
) -> Callable[[object], Awaitable[tuple[int, int]]]:
    """The sweep as a periodic task runs it (the task hands it the pool, which `transactions`
    reaches already): the documents past their retention, then the recipients of letters past
    `content_life` (the rules profile's longest content life) and the same delays."""
    recipients = RecipientRetention(content_life, retention, longest)

    async def run(_pool: object) -> tuple[int, int]:
        now = clock()
        documents = await sweep(transactions, vault, retention=retention, longest=longest, now=now)
        return documents, await forget_recipients(transactions, recipients, now=now)

    return run
