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
    # Hours the content stays downloadable once available (the AR signed).
    download_hours: int
    # Minimum retention of evidence, in days.
    evidence_retention_days: int
    # The notice channels whose first notice starts the window; the others only alert.
    window_channels: frozenset[str] = frozenset({"email"})
    # Hours the content of a letter not yet available (not accepted, or its AR not signed)
    # stays after the acceptance window closes, so that a decision at the window's last
    # instant still finds it.
    content_grace_hours: int = 24
    # The one-time code lockout. Wrong tries that spend one code (the verification desk
    # checks codes), and wrong codes over all of an item's codes from one client address
    # before that address is held for the item (the pickup site).
    code_max_tries: int = 5
    code_attempts_per_address: int = 10
    # How long the 1st, 2nd, ... hold of an address or an item lasts, in minutes, the last
    # repeating. Every hold ends, so that a stranger cannot keep the recipient out until the
    # acceptance window closes.
    lock_delays_minutes: tuple[int, ...] = (15, 60, 240, 1440)
    # Whether a letter to a recipient who is not a professional (a consumer) needs their
    # consent, recorded by the sender beforehand, to be deposited.
    consumer_consent_required: bool = False

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

    def starts_window(self, channel: str) -> bool:
        """Whether a first notice on `channel` starts the acceptance window."""
        return channel in self.window_channels

    def download_window_ends_at(self, receipt_signed_at: datetime) -> datetime:
        """End of the download window: `download_hours` after the content became available to
        the recipient, which is when the AR was signed, not the acceptance (CPCE R.53-3: the
        content is handed over after acceptance, the signed AR proving it). A recipient whose
        identity check takes days (one-time code path) still gets the whole window."""
        return receipt_signed_at + timedelta(hours=self.download_hours)

    def content_kept_until(
        self,
        *,
        window_closes_at: datetime | None,
        accepted_at: datetime | None,
        receipt_signed_at: datetime | None,
    ) -> datetime | None:
        """When a letter's content goes: the one rule of the archive, its sweeper, its links and
        the pickup site.

        - AR signed: the end of the download window (`download_window_ends_at`).
        - Otherwise (not accepted, refused, or accepted and the AR not signed yet): kept until
          the acceptance window closes plus `content_grace_hours`, and no longer. An accepted
          letter whose window close is unknown (its notice never heard of) is given the
          latest close its acceptance allows: the window of a notice sent at that instant.
        - None: no window known yet (no notice, no decision); nothing to schedule.
        """
        if receipt_signed_at is not None:
            return self.download_window_ends_at(receipt_signed_at)
        if window_closes_at is None and accepted_at is not None:
            window_closes_at = self.window_closes_at(self.acceptance_deadline(accepted_at))
        if window_closes_at is None:
            return None
        return window_closes_at + timedelta(hours=self.content_grace_hours)

    def longest_content_life(self) -> timedelta:
        """The longest the content may be kept after the first notice: the window (its days,
        the day after the notice, an hour of daylight saving), the grace, then a download
        window opened at the grace's last instant."""
        window = timedelta(days=self.acceptance_days + 1, hours=1)
        return window + timedelta(hours=self.content_grace_hours + self.download_hours)


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
    # R.53-3: the notice is the email; SMS, voice call and fax are alerts beside it.
    window_channels=frozenset({"email"}),
    content_grace_hours=24,
    code_max_tries=5,
    code_attempts_per_address=10,
    lock_delays_minutes=(15, 60, 240, 1440),
    # L.100: a recipient who is not a professional must have agreed, with the sender, to
    # receive electronic registered letters.
    consumer_consent_required=True,
)

PROFILES = {FR_LRE.name: FR_LRE}
