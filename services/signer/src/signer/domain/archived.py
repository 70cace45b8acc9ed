"""What a copy in the evidence bucket must be for a bundle's record to count as archived.

DESIGN §3: evidence goes to object storage under compliance-mode object lock, kept at
least the configured retention. A record of a bundle is archived when the bucket holds the
same bytes (record and seal), locked in compliance mode (governance mode can be lifted by a
privileged user: not enough), until at least its event time plus the retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from signer.domain.verification import Report

COMPLIANCE = "COMPLIANCE"


@dataclass(frozen=True)
class ArchivedCopy:
    """An object as the bucket holds it (its latest version): bytes and object-lock retention."""

    content: bytes
    mode: str | None  # "COMPLIANCE", "GOVERNANCE", or None when the version has no retention
    retain_until: datetime | None


def check_archived_copy(
    subject: str,
    key: str,
    expected: bytes,
    copy: ArchivedCopy | None,
    *,
    event_time: datetime,
    retention: timedelta,
) -> Report:
    report = Report()
    if copy is None:
        return report.fail(subject, f"missing from the evidence bucket (no object {key})")
    if copy.content != expected:
        return report.fail(subject, f"the evidence bucket's copy ({key}) differs from the bundle's bytes")
    if copy.mode != COMPLIANCE or copy.retain_until is None:
        held = "no object lock" if copy.mode is None else f"object lock in {copy.mode.lower()} mode"
        return report.fail(
            subject, f"the evidence bucket's copy ({key}) has {held}, not compliance mode: it can be erased"
        )
    # S3 keeps retention dates to the second.
    required = (event_time + retention).replace(microsecond=0)
    if copy.retain_until < required:
        return report.fail(
            subject,
            f"the evidence bucket's copy ({key}) is retained until {copy.retain_until.isoformat()},"
            f" before {required.isoformat()} (event time + {retention.days} days)",
        )
    report.passed.append(
        f"{subject}: in the evidence bucket byte for byte, compliance-locked until {copy.retain_until.date()}"
    )
    return report
