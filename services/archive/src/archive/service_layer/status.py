"""Where a sender's deposit stands (`GetLetterStatus`), for the sender's tooling: what became
of the deposit (`state`) and, once deposited, where the letter stands (`stage`, from the
events the archive consumes: notice.sent, letter.accepted, letter.refused, letter.unclaimed,
receipt.signed, and its own first download and expiry)."""

from __future__ import annotations

import json

from archive.domain.stage import letter_stage
from lre_shared.bus import Transaction
from lre_shared.messages import GetLetterStatus, LetterStatus, Problem

LETTER = (
    "SELECT letter_id, item_number, deposited_at, first_notice_at, accepted_at, refused_at,"
    " receipt_signed_at, unclaimed_at, handed_over_at, content_deleted_at, content_expires_at"
    " FROM letters WHERE sender_id = $1"
)
REJECTION = "SELECT letter_id, problems, rejected_at FROM rejections WHERE sender_id = $1"


async def get_letter_status(query: GetLetterStatus, tx: Transaction) -> LetterStatus:
    """A sender sees its own deposits only: by letter id, or by its idempotency key (the letter
    deposited under it, else the last refusal under it)."""
    sender_id = query.sender_id.strip()
    key: object
    if query.idempotency_key is not None:
        where, key = " AND idempotency_key = $2", query.idempotency_key
    else:
        where, key = " AND letter_id = $2", query.correlation_id
    letter = await tx.conn.fetchrow(LETTER + where, sender_id, key)
    if letter is not None:
        return LetterStatus(
            correlation_id=query.correlation_id,
            state="deposited",
            letter_id=letter["letter_id"],
            item_number=letter["item_number"],
            deposited_at=letter["deposited_at"],
            accepted_at=letter["accepted_at"],
            receipt_signed_at=letter["receipt_signed_at"],
            unclaimed_at=letter["unclaimed_at"],
            handed_over_at=letter["handed_over_at"],
            content_deleted_at=letter["content_deleted_at"],
            stage=letter_stage(
                notified_at=letter["first_notice_at"],
                accepted_at=letter["accepted_at"],
                refused_at=letter["refused_at"],
                unclaimed_at=letter["unclaimed_at"],
                receipt_signed_at=letter["receipt_signed_at"],
                handed_over_at=letter["handed_over_at"],
                content_deleted_at=letter["content_deleted_at"],
            ),
            notified_at=letter["first_notice_at"],
            refused_at=letter["refused_at"],
            # Once deleted, the content has no expiry to come.
            content_expires_at=None if letter["content_deleted_at"] else letter["content_expires_at"],
        )
    rejection = await tx.conn.fetchrow(
        REJECTION + where + " ORDER BY rejected_at DESC LIMIT 1", sender_id, key
    )
    if rejection is not None:
        return LetterStatus(
            correlation_id=query.correlation_id,
            state="rejected",
            letter_id=rejection["letter_id"],
            rejected_at=rejection["rejected_at"],
            problems=tuple(Problem.model_validate(p) for p in json.loads(rejection["problems"])),
        )
    return LetterStatus(correlation_id=query.correlation_id, state="unknown")
