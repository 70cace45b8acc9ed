"""When a letter's content goes (DESIGN §2 step 6, §6).

One rule, the rules profile's `RulesProfile.content_kept_until`, which the pickup site's
remaining time also follows:

- Once the AR is signed, the content is available to the recipient (CPCE R.53-3) and stays
  downloadable for the download window from that moment, never less, then is deleted; if
  nothing was downloaded by then, that is an ETSI EN 319 522 ContentHandoverFailure.
- Until then (not accepted, refused, or accepted with the AR not yet signed: an identity
  check over a weekend) it stays until the acceptance window closes (15 days from the day
  after the first notice) plus the grace, so that a decision at the last instant still finds
  it, and no longer.

The window is computed from the first notice's `sent_at` (`notice.sent.v1`), not from the
deposit: the notice may leave hours or days after the deposit (a failing mailbox, retries),
and a window counted from the deposit would close early and delete content the recipient
may still accept. A letter whose notice never left and that nobody decided on has no window:
the content bucket's lifecycle rule removes it (`CONTENT_EXPIRY_DAYS`, never shorter than the
profile's `longest_content_life`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lre_shared.rules import RulesProfile


@dataclass(frozen=True)
class RetentionPolicy:
    """The rules profile as this deployment sets it (`ArchiveSettings.rules`:
    `ARCHIVE_DOWNLOAD_HOURS`, `ARCHIVE_UNACCEPTED_GRACE_HOURS` replace the profile's hours)."""

    rules: RulesProfile

    def window_closes_at(self, first_notice_at: datetime) -> datetime:
        return self.rules.window_closes_at(self.rules.acceptance_deadline(first_notice_at))

    def content_expires_at(
        self,
        *,
        window_closes_at: datetime | None,
        accepted_at: datetime | None,
        receipt_signed_at: datetime | None,
    ) -> datetime | None:
        return self.rules.content_kept_until(
            window_closes_at=window_closes_at, accepted_at=accepted_at, receipt_signed_at=receipt_signed_at
        )
