"""Offline verification of a letter's evidence: the chain with no gap, the documents."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

from signer.domain.evidence import UNSEALED, EvidenceEvent, build_record
from signer.domain.verification import Bundle, Report, StoredRecord, check_chain, check_documents
from signer.service_layer.verification import check_attached

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


# ------------------------------------------------------------------ records a proof carries


async def seal_marker(record: StoredRecord, seal: bytes | None, *, claims_sealed: bool) -> Report:
    """A seal holds when it is the marker of its record's bytes."""
    report = Report()
    if seal == b"seal of " + record.body:
        report.passed.append(f"{record.name}: seal intact")
    else:
        report.fail(record.name, "the seal does not match the record")
    return report


def sealed_bundle() -> Bundle:
    records = chain(2)
    return Bundle(records=records, seals={r.name: b"seal of " + r.body for r in records})


def test_a_proof_carrying_the_bundles_records_and_seals_verifies() -> None:
    bundle = sealed_bundle()
    carried = {"0002.json": bundle.records[1].body, "0002.seal.json": b"seal of " + bundle.records[1].body}

    report = asyncio.run(check_attached("refusal.pdf", carried, bundle, seal_marker))

    assert failures(report) == []
    assert report.passed == [
        "proof refusal.pdf: carries records/0002.json and its seal, as the bundle holds them"
    ]


def test_a_proof_carrying_a_record_other_than_the_bundles_is_named() -> None:
    bundle, other = sealed_bundle(), chain(2)[1].body  # the same place in another chain

    report = asyncio.run(check_attached("refusal.pdf", {"0002.json": other}, bundle, seal_marker))

    assert failures(report) == [
        "proof refusal.pdf: carries a record 0002.json that differs from the bundle's records/0002.json"
    ]


def test_a_record_the_bundle_lacks_is_checked_by_its_own_seal() -> None:
    bundle, record = Bundle(), chain(1)[0].body
    carried = {"0001.json": record, "0001.seal.json": b"seal of " + record + b"!"}

    report = asyncio.run(check_attached("deposit.pdf", carried, bundle, seal_marker))

    assert failures(report) == ["proof deposit.pdf, attached 0001.json: the seal does not match the record"]


def test_a_proof_carrying_no_record_is_noted_not_failed() -> None:
    report = asyncio.run(check_attached("deposit.pdf", {}, sealed_bundle(), seal_marker))

    assert failures(report) == []
    assert report.notes == [
        "proof deposit.pdf: carries no evidence record (issued before proofs carried them)"
    ]
