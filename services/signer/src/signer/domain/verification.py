"""Offline verification of a letter's evidence: what a bundle must satisfy.

Pure checks on bytes: the hash chain (positions 1..n with no gap, each record linked by
the SHA-256 of the one before, one letter), the canonical form of each record, and the
SHA-256 of every document against the SubmissionAcceptance record (ETSI EN 319 522-2:
the evidence binds the submitted content by its digest). Seals and timestamps are checked
by an adapter (pyHanko) and reported in the same terms.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from signer.domain.evidence import canonical_json


@dataclass(frozen=True)
class Failure:
    """One thing wrong in a bundle, named: which item, and what."""

    subject: str
    problem: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.problem}"


@dataclass
class Report:
    """Everything checked: what held, what failed."""

    passed: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.passed)

    def fail(self, subject: str, problem: str) -> None:
        self.failures.append(Failure(subject, problem))

    def extend(self, other: Report) -> None:
        self.passed += other.passed
        self.failures += other.failures


@dataclass(frozen=True)
class StoredRecord:
    """A record as found in a bundle: its file name and its exact bytes."""

    name: str
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass
class Bundle:
    """A letter's evidence as handed out: records in chain order, their seals, its documents."""

    records: list[StoredRecord] = field(default_factory=list)
    seals: dict[str, bytes] = field(default_factory=dict)  # record name → DER seal
    documents: dict[str, bytes] = field(default_factory=dict)  # filename → content
    proofs: dict[str, bytes] = field(default_factory=dict)  # filename → sealed PDF


def parse(record: StoredRecord, report: Report) -> dict[str, Any] | None:
    try:
        value = json.loads(record.body)
    except ValueError:
        report.fail(record.name, "not valid JSON: the record was altered or corrupted")
        return None
    if not isinstance(value, dict) or not isinstance(value.get("seq"), int):
        report.fail(record.name, "not an evidence record (no position `seq` in the chain)")
        return None
    if canonical_json(value) != record.body:
        report.fail(record.name, "not in canonical form (RFC 8785): the record was altered")
    return value


def check_chain(records: Sequence[StoredRecord]) -> Report:
    """Positions 1..n, no gap, each linked to the one before, all of one letter."""
    report = Report()
    if not records:
        report.fail("bundle", "holds no evidence record")
        return report
    parsed = [(r, p) for r in records if (p := parse(r, report)) is not None]
    parsed.sort(key=lambda rp: int(rp[1]["seq"]))
    letters = {str(p.get("letter_id")) for _, p in parsed}
    if len(letters) > 1:
        report.fail("bundle", f"records of more than one letter: {', '.join(sorted(letters))}")
    expected_seq = 1
    previous: tuple[StoredRecord, dict[str, Any]] | None = None
    for record, body in parsed:
        seq = int(body["seq"])
        if seq > expected_seq:
            missing = ", ".join(str(n) for n in range(expected_seq, seq))
            report.fail(
                f"record {missing}" if seq - expected_seq == 1 else f"records {missing}",
                f"missing from the chain: record {seq} follows record {expected_seq - 1}",
            )
        elif seq < expected_seq:
            report.fail(record.name, f"a second record at position {seq} of the chain")
        link = body.get("previous_sha256")
        if seq == 1:
            if link is not None:
                report.fail(record.name, "the first record links to a previous record")
        elif previous is None:
            report.fail(record.name, f"links to record {seq - 1}, which is not in the bundle")
        elif link != previous[0].sha256:
            report.fail(
                record.name,
                f"previous_sha256 does not match record {previous[1]['seq']} ({previous[0].name}):"
                " that record was altered, or one is missing",
            )
        else:
            report.passed.append(f"{record.name}: linked to record {previous[1]['seq']}")
        expected_seq = max(expected_seq, seq + 1)
        previous = (record, body)
    if not report.failures:
        report.passed.append(f"chain: {len(parsed)} records, positions 1 to {len(parsed)}, no gap")
    return report


def listed_documents(records: Sequence[StoredRecord]) -> dict[str, str]:
    """Filename → SHA-256 of each document, as the SubmissionAcceptance record states it."""
    listed: dict[str, str] = {}
    for record in records:
        try:
            body = json.loads(record.body)
        except ValueError:
            continue
        details = body.get("details") if isinstance(body, dict) else None
        for document in (details or {}).get("documents", ()) if isinstance(details, dict) else ():
            if isinstance(document, dict) and "filename" in document and "sha256" in document:
                listed[str(document["filename"])] = str(document["sha256"])
    return listed


def check_documents(records: Sequence[StoredRecord], documents: Mapping[str, bytes]) -> Report:
    """Each document in the bundle is one the evidence names, with the same SHA-256."""
    report = Report()
    listed = listed_documents(records)
    for name, content in sorted(documents.items()):
        expected = listed.get(name)
        actual = hashlib.sha256(content).hexdigest()
        if expected is None:
            report.fail(f"document {name}", "not named in the evidence: not a document of this letter")
        elif actual != expected:
            report.fail(
                f"document {name}",
                f"SHA-256 {actual} differs from {expected} in the evidence: not the deposited document",
            )
        else:
            report.passed.append(f"document {name}: SHA-256 matches the evidence")
    return report
