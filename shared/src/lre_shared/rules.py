"""The law's numbers and switches, in one profile per jurisdiction.

Another jurisdiction is another `RulesProfile`, not new branches through the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class RulesProfile:
    name: str
    timezone: ZoneInfo
    # Days the recipient has to accept or refuse, counted from the day after the first notice.
    acceptance_days: int
    # Whether the sender's identity stays hidden until the recipient accepts.
    sender_hidden_until_acceptance: bool
    # Hours the content stays downloadable after pickup.
    download_hours: int
    # Minimum retention of evidence, in days.
    evidence_retention_days: int

    def acceptance_deadline(self, first_notice_at: datetime) -> date:
        """Last day (local date) on which the recipient may still accept or refuse."""
        if first_notice_at.tzinfo is None:
            raise ValueError("the notice time must carry a time zone")
        notice_day = first_notice_at.astimezone(self.timezone).date()
        return notice_day + timedelta(days=self.acceptance_days)

    def window_closes_at(self, deadline: date) -> datetime:
        """The instant (UTC) the window closes: midnight local time after the last day."""
        local = datetime.combine(deadline + timedelta(days=1), time(0, 0), tzinfo=self.timezone)
        return local.astimezone(UTC)


# France: CPCE L.100 and R.53-1 to R.53-3.
FR_LRE = RulesProfile(
    name="fr_lre",
    timezone=ZoneInfo("Europe/Paris"),
    # R.53-3: the recipient has 15 days, from the day after the notice, to accept or refuse.
    acceptance_days=15,
    # R.53-3: the provider does not disclose the sender's identity before acceptance.
    sender_hidden_until_acceptance=True,
    download_hours=48,
    # R.53-2/R.53-3: proofs kept at least one year.
    evidence_retention_days=365,
)

PROFILES = {FR_LRE.name: FR_LRE}
