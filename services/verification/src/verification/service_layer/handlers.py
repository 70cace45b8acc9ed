"""What the desk learns from other services' events.

The desk needs, for any letter a recipient may later ask a one-time code for, the
verification policy the sender chose (`default` or `cnb`), whom to expect and where they
may receive a code: it learns all of it when the letter is deposited, and the letter's
fate from the pickup site's decisions.
"""

from __future__ import annotations

from lre_shared.bus import Transaction
from lre_shared.messages import (
    LetterAccepted,
    LetterDeposited,
    LetterLanguageChanged,
    LetterLocked,
    LetterLockLifted,
    LetterRefused,
    LockKind,
)


async def on_letter_deposited(event: LetterDeposited, tx: Transaction) -> None:
    recipient = event.recipient
    await tx.conn.execute(
        "INSERT INTO letters (letter_id, item_number, policy, recipient_name, recipient_company,"
        " recipient_email, recipient_mobile, recipient_landline)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (letter_id) DO NOTHING",
        event.correlation_id,
        event.item_number,
        event.verification_policy,
        f"{recipient.first_name} {recipient.last_name}",
        recipient.company,
        str(recipient.email),
        recipient.mobile,
        recipient.landline,
    )


async def on_letter_language_changed(event: LetterLanguageChanged, tx: Transaction) -> None:
    """Codes still to come for the letter go in the language the recipient last chose."""
    await tx.conn.execute(
        "UPDATE cases SET language = $2 WHERE letter_id = $1 AND state <> 'rejected'",
        event.correlation_id,
        event.language,
    )


async def on_letter_accepted(event: LetterAccepted, tx: Transaction) -> None:
    await tx.conn.execute("UPDATE letters SET status = 'accepted' WHERE letter_id = $1", event.correlation_id)


async def on_letter_refused(event: LetterRefused, tx: Transaction) -> None:
    await tx.conn.execute("UPDATE letters SET status = 'refused' WHERE letter_id = $1", event.correlation_id)


# Lock events come on two queues and may arrive out of order: each applies only if it is not
# older than the latest one applied.


async def on_letter_locked(event: LetterLocked, tx: Transaction) -> None:
    """Wrong codes held the letter's codes (for an address or for everyone): no code is sent
    until the hold ends, so that none goes out that could not be used."""
    if event.kind is not LockKind.code:
        return
    await tx.conn.execute(
        "UPDATE letters SET codes_locked_until = CASE WHEN codes_locked_until > $2"
        " THEN greatest(codes_locked_until, $3) ELSE $3 END, codes_lock_changed_at = $2"
        " WHERE letter_id = $1 AND (codes_lock_changed_at IS NULL OR codes_lock_changed_at <= $2)",
        event.correlation_id,
        event.locked_at,
        event.locked_until,
    )


async def on_letter_lock_lifted(event: LetterLockLifted, tx: Transaction) -> None:
    if LockKind.code not in event.kinds:
        return
    await tx.conn.execute(
        "UPDATE letters SET codes_locked_until = NULL, codes_lock_changed_at = $2"
        " WHERE letter_id = $1 AND (codes_lock_changed_at IS NULL OR codes_lock_changed_at <= $2)",
        event.correlation_id,
        event.lifted_at,
    )
