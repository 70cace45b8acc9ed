"""`lre verify --evidence-bucket`: each record of a bundle, and its seal, must be in the
evidence bucket byte for byte, compliance-locked at least the retention after its event."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from signer.domain.archived import ArchivedCopy
from signer.domain.verification import Bundle, Report, StoredRecord
from signer.service_layer.archiving import check_bundle_archived, record_key
from signer.settings import DEFAULT_EVIDENCE_RETENTION_DAYS

LETTER = uuid4()
EVENT_TIME = datetime(2026, 3, 2, 9, 30, 15, 250000, tzinfo=UTC)
RETENTION = timedelta(days=DEFAULT_EVIDENCE_RETENTION_DAYS)
UNTIL = (EVENT_TIME + RETENTION).replace(microsecond=0)  # what S3 keeps: whole seconds


def bundle_of(count: int) -> Bundle:
    bundle = Bundle()
    for seq in range(1, count + 1):
        name = f"records/{seq:04d}.json"
        body = json.dumps(
            {"seq": seq, "letter_id": str(LETTER), "event_time": EVENT_TIME.isoformat()}
        ).encode()
        bundle.records.append(StoredRecord(name, body))
        bundle.seals[name] = b"seal " + body
    return bundle


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, ArchivedCopy] = {}

    def hold(self, bundle: Bundle, *, mode: str = "COMPLIANCE", until: datetime = UNTIL) -> None:
        for record in bundle.records:
            key = record_key(LETTER, int(json.loads(record.body)["seq"]))
            self.objects[key + ".json"] = ArchivedCopy(record.body, mode, until)
            self.objects[key + ".seal.json"] = ArchivedCopy(bundle.seals[record.name], mode, until)

    async def archived(self, key: str) -> ArchivedCopy | None:
        return self.objects.get(key)


def check(bundle: Bundle, bucket: FakeBucket) -> Report:
    return asyncio.run(check_bundle_archived(bundle, bucket, retention=RETENTION))


def test_every_record_and_seal_locked_in_the_bucket_passes() -> None:
    bundle, bucket = bundle_of(2), FakeBucket()
    bucket.hold(bundle)

    report = check(bundle, bucket)

    assert report.ok, report.failures
    assert len(report.passed) == 4


def test_a_record_missing_from_the_bucket_is_named() -> None:
    bundle, bucket = bundle_of(2), FakeBucket()
    bucket.hold(bundle)
    del bucket.objects[record_key(LETTER, 2) + ".json"]

    report = check(bundle, bucket)

    assert [str(f) for f in report.failures] == [
        f"records/0002.json: missing from the evidence bucket (no object letters/{LETTER}/records/0002.json)"
    ]


def test_a_copy_that_differs_from_the_bundle_fails() -> None:
    bundle, bucket = bundle_of(1), FakeBucket()
    bucket.hold(bundle)
    key = record_key(LETTER, 1) + ".json"
    bucket.objects[key] = ArchivedCopy(b"{}", "COMPLIANCE", UNTIL)

    assert "differs from the bundle's bytes" in str(check(bundle, bucket).failures[0])


def test_governance_mode_is_not_enough() -> None:
    bundle, bucket = bundle_of(1), FakeBucket()
    bucket.hold(bundle, mode="GOVERNANCE")

    failures = check(bundle, bucket).failures

    assert len(failures) == 2
    assert "object lock in governance mode, not compliance mode" in str(failures[0])


def test_a_retention_shorter_than_the_configured_one_fails() -> None:
    bundle, bucket = bundle_of(1), FakeBucket()
    bucket.hold(bundle, until=UNTIL - timedelta(seconds=1))

    failures = check(bundle, bucket).failures

    assert "before" in str(failures[0]) and f"(event time + {DEFAULT_EVIDENCE_RETENTION_DAYS} days)" in str(
        failures[0]
    )
