"""Where a sender's deposit stands (`GetLetterStatus`), for the sender's tooling: what became
of the deposit (`state`) and, once deposited, where the letter stands (`stage`, from the
events the archive consumes: notice.sent, letter.accepted, letter.refused, letter.unclaimed,
receipt.signed, and its own first download and expiry)."""

from __future__ import annotations

from archive.domain.stage import letter_stage
from archive.service_layer.ports import LetterFacts, UnitOfWork
from lre_shared.contracts import GetLetterStatus, LetterStatus


async def get_letter_status(query: GetLetterStatus, uow: UnitOfWork) -> LetterStatus:
    """A sender sees its own deposits only: by letter id, or by its idempotency key (the letter
    deposited under it, else the last refusal under it)."""
    sender_id = query.sender_id.strip()
    # By the key when there is one, else by the letter id.
    key = query.idempotency_key
    letter_id = None if key is not None else query.correlation_id
    letter = await uow.letters.facts_for_sender(sender_id, letter_id=letter_id, idempotency_key=key)
    if letter is not None:
        return deposited(query, letter)
    rejection = await uow.rejections.latest_for_sender(sender_id, letter_id=letter_id, idempotency_key=key)
    if rejection is not None:
        # Its letter id, problems and time are the status's own fields.
        return LetterStatus(correlation_id=query.correlation_id, state="rejected", **vars(rejection))
    return LetterStatus(correlation_id=query.correlation_id, state="unknown")


def deposited(query: GetLetterStatus, letter: LetterFacts) -> LetterStatus:
    facts = {
        "accepted_at": letter.accepted_at,
        "refused_at": letter.refused_at,
        "receipt_signed_at": letter.receipt_signed_at,
        "unclaimed_at": letter.unclaimed_at,
        "handed_over_at": letter.handed_over_at,
        "content_deleted_at": letter.content_deleted_at,
    }
    return LetterStatus(
        correlation_id=query.correlation_id,
        state="deposited",
        letter_id=letter.letter_id,
        item_number=letter.item_number,
        deposited_at=letter.deposited_at,
        notified_at=letter.first_notice_at,
        stage=letter_stage(notified_at=letter.first_notice_at, **facts),
        # Once deleted, the content has no expiry to come.
        content_expires_at=None if letter.content_deleted_at else letter.content_expires_at,
        **facts,
    )
