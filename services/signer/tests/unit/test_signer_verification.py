"""Offline verification of a letter's evidence: the chain with no gap, the documents."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

from signer.domain.evidence import UNSEALED, EvidenceEvent, build_record
from signer.domain.verification import StoredRecord, check_chain, check_documents

LETTER = UUID("11111111-1111-4111-8111-111111111111")
DOCUMENT = b"%PDF-1.7 mise en demeure"
EVENTS = [
    EvidenceEvent.submission_acceptance,
    EvidenceEvent.notification_for_acceptance,
    EvidenceEvent.consignment_acceptance,
    EvidenceEvent.content_handover,
]


def chain(length: int = 4) -> list[StoredRecord]:
    records: list[StoredRecord] = []
    previous = None
    for seq in range(1, length + 1):
        body, digest = build_record(
            evidence_id=uuid4(),
            event=EVENTS[(seq - 1) % len(EVENTS)],
            event_time=datetime(2025, 3, 1, 9, seq, tzinfo=UTC),
            letter_id=LETTER,
            item_number="799273987130",
            details={
                "documents": [
                    {"filename": "lettre.pdf", "sha256": hashlib.sha256(DOCUMENT).hexdigest(), "size": 24}
                ]
            }
            if seq == 1
            else {},
            policy_id="urn:lre:policy:test",
            seq=seq,
            previous_sha256=previous,
            seal=UNSEALED,
        )
        records.append(StoredRecord(f"records/{seq:04d}.json", body))
        previous = digest
    return records


def failures(report: object) -> list[str]:
    return [str(f) for f in report.failures]  # type: ignore[attr-defined]


def test_an_intact_chain_verifies() -> None:
    report = check_chain(chain())

    assert report.ok
    assert "chain: 4 records, positions 1 to 4, no gap" in report.passed


def test_a_record_removed_from_the_middle_is_named_as_missing() -> None:
    records = chain()
    del records[1]

    found = failures(check_chain(records))

    assert "record 2: missing from the chain: record 3 follows record 1" in found
    assert any(f.startswith("records/0003.json: previous_sha256 does not match record 1") for f in found)


def test_one_changed_byte_in_a_record_is_named() -> None:
    records = chain()
    body = records[1].body.replace(b"NotificationForAcceptance", b"NotificationForAcceptancf", 1)
    records[1] = StoredRecord(records[1].name, body)

    found = failures(check_chain(records))

    assert found == [
        "records/0003.json: previous_sha256 does not match record 2 (records/0002.json):"
        " that record was altered, or one is missing"
    ]


def test_a_record_no_longer_canonical_is_named() -> None:
    records = chain()
    records[0] = StoredRecord(records[0].name, records[0].body + b" ")

    found = failures(check_chain(records))

    assert "records/0001.json: not in canonical form (RFC 8785): the record was altered" in found


def test_a_record_that_is_not_json_is_named() -> None:
    records = chain()
    records[2] = StoredRecord(records[2].name, records[2].body[:-1])

    assert "records/0003.json: not valid JSON: the record was altered or corrupted" in failures(
        check_chain(records)
    )


def test_records_of_two_letters_are_refused() -> None:
    records = chain(2)
    other = json.loads(records[1].body)
    other["letter_id"] = str(uuid4())
    records[1] = StoredRecord(
        records[1].name, json.dumps(other, separators=(",", ":"), sort_keys=True).encode()
    )

    assert any(
        f.startswith("bundle: records of more than one letter") for f in failures(check_chain(records))
    )


def test_an_empty_bundle_is_not_verified() -> None:
    assert failures(check_chain([])) == ["bundle: holds no evidence record"]


def test_the_deposited_document_matches_its_evidence() -> None:
    report = check_documents(chain(), {"lettre.pdf": DOCUMENT})

    assert report.ok


def test_a_wrong_document_is_named() -> None:
    found = failures(check_documents(chain(), {"lettre.pdf": DOCUMENT + b"!"}))

    assert len(found) == 1
    assert found[0].startswith("document lettre.pdf: SHA-256 ")
    assert found[0].endswith("in the evidence: not the deposited document")


def test_a_document_the_evidence_does_not_name_is_named() -> None:
    assert failures(check_documents(chain(), {"autre.pdf": DOCUMENT})) == [
        "document autre.pdf: not named in the evidence: not a document of this letter"
    ]
