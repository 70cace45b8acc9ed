"""When a letter's content goes (DESIGN §2 step 6, §6), and the clock that says when.

- An accepted letter's content is downloadable for `download` after the first pickup (the
  acceptance: CPCE R.53-3 makes the content available only then), then deleted; if nothing
  was downloaded by then, that is an ETSI EN 319 522 ContentHandoverFailure.
- A letter never accepted keeps its content until the acceptance window closes (15 days
  from the day after the first notice, `RulesProfile`) plus `unaccepted_grace`, so that a
  late acceptance at the last instant still finds its content.

The window is computed from the first notice's `sent_at` (`notice.sent.v1`), not from the
deposit: the notice may leave hours or days after the deposit (a failing mailbox, retries),
and a window counted from the deposit would close early and delete content the recipient
may still accept. A letter whose notice never left has no window: the content bucket's
lifecycle rule removes it (`CONTENT_EXPIRY_DAYS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from lre_shared.rules import FR_LRE, RulesProfile


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class RetentionPolicy:
    rules: RulesProfile = FR_LRE
    download: timedelta = timedelta(hours=FR_LRE.download_hours)
    unaccepted_grace: timedelta = timedelta(days=1)

    def window_closes_at(self, first_notice_at: datetime) -> datetime:
        return self.rules.window_closes_at(self.rules.acceptance_deadline(first_notice_at))

    def download_window_ends_at(self, accepted_at: datetime) -> datetime:
        return accepted_at + self.download

    def unaccepted_content_ends_at(self, window_closes_at: datetime) -> datetime:
        return window_closes_at + self.unaccepted_grace
