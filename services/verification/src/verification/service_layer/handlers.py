"""Verification use cases.

The desk needs, for any letter a recipient may later ask a one-time code for, the
verification policy the sender chose (`default` or `cnb`) and whom to expect: it learns
both when the letter is deposited.
"""

from __future__ import annotations

from lre_shared.bus import Transaction
from lre_shared.messages import LetterDeposited


async def on_letter_deposited(event: LetterDeposited, tx: Transaction) -> None:
    recipient = event.recipient
    await tx.conn.execute(
        "INSERT INTO letters (letter_id, item_number, policy, recipient_name, recipient_company)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (letter_id) DO NOTHING",
        event.correlation_id,
        event.item_number,
        event.verification_policy,
        f"{recipient.first_name} {recipient.last_name}",
        recipient.company,
    )
