"""Offline verification of a letter's evidence: what a bundle must satisfy.

Pure checks on bytes: the hash chain (positions 1..n with no gap, each record linked by
the SHA-256 of the one before, one letter, each in its own place), where the chain ends
(the letter's latest checkpoint: no record it counts may be missing, see
`domain/checkpoint.py`), the canonical form of each record, and the
SHA-256 of every document against the SubmissionAcceptance record (ETSI EN 319 522-2:
the evidence binds the submitted content by its digest). Seals and timestamps are checked
by an adapter (pyHanko) and reported in the same terms.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from signer.domain.checkpoint import SETTLING_EVENTS, LetterCheckpoint
from signer.domain.evidence import canonical_json

CHECKPOINT_SUBJECT = "checkpoint.json"


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
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.passed)

    def fail(self, subject: str, problem: str) -> Report:
        """Record the failure; the report, for a check that stops there (`return report.fail(…)`)."""
        self.failures.append(Failure(subject, problem))
        return self

    def extend(self, other: Report) -> None:
        self.passed += other.passed
        self.failures += other.failures
        self.notes += other.notes


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
    checkpoint: bytes | None = None  # the letter's latest checkpoint statement
    checkpoint_seal: bytes | None = None  # its seal (RecordSeal bytes)


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
        return report.fail("bundle", "holds no evidence record")
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
        if (place := _place(record.name)) is not None and place != seq:
            report.fail(
                record.name,
                f"holds record {seq}, not record {place}: the records were reordered",
            )
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


def _place(name: str) -> int | None:
    """The position a bundle's file name gives its record (`records/0002.json`: 2), if any."""
    stem = PurePosixPath(name).name.removesuffix(".json")
    return int(stem) if stem.isdigit() else None


def check_end(records: Sequence[StoredRecord], checkpoint: bytes | None) -> Report:
    """The chain ends where the letter's latest checkpoint says: every record it counts is in
    the bundle, the last with the SHA-256 it states, and none comes after it. Its seal is
    checked apart, with the records' (`service_layer/verification.py`)."""
    report = Report()
    bodies: dict[int, tuple[StoredRecord, dict[str, Any]]] = {}
    for record in records:
        try:
            value = json.loads(record.body)
        except ValueError:
            continue  # named by check_chain
        if isinstance(value, dict) and isinstance(value.get("seq"), int):
            bodies.setdefault(int(value["seq"]), (record, value))
    last = max(bodies, default=0)
    if checkpoint is None:
        settling = sorted(
            seq
            for seq, (_, body) in bodies.items()
            if body.get("event") in {e.value for e in SETTLING_EVENTS}
        )
        if settling:
            report.fail(
                CHECKPOINT_SUBJECT,
                f"missing: record {settling[0]} settles the letter's fate, so the provider sealed"
                " where its chain ends; without that checkpoint the bundle may have been cut short."
                " Ask the provider for the complete bundle",
            )
        else:
            report.notes.append(
                f"no checkpoint: the letter's fate is not settled, so records after record {last}"
                " may exist; a bundle exported once it is settled can be checked complete"
            )
        return report
    try:
        stated = LetterCheckpoint.parse(checkpoint)
    except ValueError as e:
        return report.fail(CHECKPOINT_SUBJECT, str(e))
    letters = {str(body.get("letter_id")) for _, body in bodies.values()}
    if letters and stated.letter_id not in letters:
        return report.fail(
            CHECKPOINT_SUBJECT,
            f"the checkpoint of letter {stated.letter_id}, not of this bundle's letter"
            f" ({', '.join(sorted(letters))}): it was taken from another bundle",
        )
    missing = [seq for seq in range(last + 1, stated.size + 1)]
    if missing:
        listed = ", ".join(str(n) for n in missing)
        report.fail(
            f"record {listed}" if len(missing) == 1 else f"records {listed}",
            f"missing: the checkpoint counts {stated.size} records and the bundle ends at record"
            f" {last}: the bundle was cut short",
        )
    elif last > stated.size:
        report.fail(
            CHECKPOINT_SUBJECT,
            f"counts {stated.size} records but the bundle holds record {last}: not the letter's"
            " latest checkpoint",
        )
    elif (end := bodies.get(stated.size)) is None:
        report.fail(
            CHECKPOINT_SUBJECT, f"record {stated.size}, where it ends the chain, is not in the bundle"
        )
    elif end[0].sha256 != stated.last_sha256:
        report.fail(
            CHECKPOINT_SUBJECT,
            f"ends the chain at record {stated.size} with SHA-256 {stated.last_sha256}, but"
            f" {end[0].name} has SHA-256 {end[0].sha256}: the record or the checkpoint was replaced",
        )
    else:
        report.passed.append(
            f"{CHECKPOINT_SUBJECT}: the chain ends at record {stated.size}, as the checkpoint states"
        )
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
