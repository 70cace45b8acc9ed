"""Where a deposited letter stands, for its sender (`LetterStatus.stage`).

The furthest step the archive has heard of wins, in the journey's order (DESIGN §2): a
refused or unclaimed letter stays so when its content later goes (nothing was owed to the
recipient), a downloaded one stays downloaded; `expired` is an accepted letter whose content
went without a download (ETSI EN 319 522 ContentHandoverFailure).
"""

from __future__ import annotations

from datetime import datetime

from lre_shared.contracts import LetterStage


def letter_stage(
    *,
    notified_at: datetime | None,
    accepted_at: datetime | None,
    refused_at: datetime | None,
    unclaimed_at: datetime | None,
    receipt_signed_at: datetime | None,
    handed_over_at: datetime | None,
    content_deleted_at: datetime | None,
) -> LetterStage:
    if refused_at is not None:
        return "refused"
    if unclaimed_at is not None:
        return "unclaimed"
    if handed_over_at is not None:
        return "downloaded"
    if accepted_at is not None and content_deleted_at is not None:
        return "expired"
    if receipt_signed_at is not None:
        return "signed"
    if accepted_at is not None:
        return "accepted"
    if notified_at is not None:
        return "notified"
    return "deposited"
