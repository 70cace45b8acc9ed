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
    # Each stage with the time it was reached, the furthest first.
    reached: tuple[tuple[datetime | None, LetterStage], ...] = (
        (refused_at, "refused"),
        (unclaimed_at, "unclaimed"),
        (handed_over_at, "downloaded"),
        (content_deleted_at if accepted_at is not None else None, "expired"),
        (receipt_signed_at, "signed"),
        (accepted_at, "accepted"),
        (notified_at, "notified"),
    )
    return next((stage for at, stage in reached if at is not None), "deposited")
