"""Checks a record's seal and its RFC 3161 timestamp with pyHanko, offline.

A record's seal is its Merkle batch's (see `domain/merkle.py`): the record must climb its
inclusion proof to the root the batch statement names, and the statement's CAdES-T seal and
timestamp must hold.

Offline means no fetching: the chain is built from the certificates embedded in the seal
and checked against the trust roots given on the command line; revocation is checked only
if its data is embedded (soft-fail otherwise, said in the report).
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from typing import Any

from asn1crypto import cms, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko_certvalidator import ValidationContext

from signer.domain.merkle import RecordSeal
from signer.domain.verification import Report, StoredRecord


def validation_context(trust_roots: Sequence[x509.Certificate]) -> ValidationContext:
    return ValidationContext(trust_roots=list(trust_roots), allow_fetching=False, revocation_mode="soft-fail")


def _subject(status: Any) -> str:
    subject = status.signing_cert.subject.native
    return str(subject.get("common_name") or status.signing_cert.subject.human_friendly)


async def check_seal(
    record: StoredRecord,
    seal: bytes | None,
    *,
    claims_sealed: bool,
    trust_roots: Sequence[x509.Certificate],
) -> Report:
    report = Report()
    name = record.name
    if seal is None:
        if claims_sealed:
            report.fail(name, "its seal is missing from the bundle")
        else:
            report.fail(name, "unsealed (no seal key was configured when it was recorded): not evidence")
        return report
    try:
        record_seal = RecordSeal.from_bytes(seal)
        covered = record_seal.covers(record.body)
        signed_data = cms.ContentInfo.load(record_seal.cms)["content"]
        signed_data.native  # noqa: B018 - parse it all now: a corrupted seal fails here
    except Exception as e:
        report.fail(name, f"its seal is not readable ({e.__class__.__name__})")
        return report
    if not covered:
        report.fail(name, "the seal does not match the record: the record was altered after sealing")
        return report
    context = validation_context(trust_roots)
    try:
        status = await async_validate_detached_cms(
            record_seal.statement,
            signed_data,
            signer_validation_context=context,
            ts_validation_context=context,
        )
    except Exception as e:
        report.fail(name, f"its seal cannot be validated: {e}")
        return report
    if not status.intact:
        report.fail(name, "the batch seal does not match its statement: the seal was altered")
        return report
    if not status.valid:
        report.fail(name, "the seal's signature is invalid")
        return report
    if not status.trusted:
        report.fail(name, f"the seal's certificate ({_subject(status)}) does not chain to a trusted root")
    else:
        report.passed.append(f"{name}: seal intact, by {_subject(status)}")
    timestamp = status.timestamp_validity
    if timestamp is None:
        report.fail(name, "its seal has no RFC 3161 timestamp")
    elif not (timestamp.intact and timestamp.valid):
        report.fail(name, "its timestamp does not match the seal, or its signature is invalid")
    elif not timestamp.trusted:
        report.fail(name, f"its timestamp's TSA ({_subject(timestamp)}) does not chain to a trusted root")
    else:
        report.passed.append(
            f"{name}: timestamped {timestamp.timestamp.isoformat()} by {_subject(timestamp)}"
        )
    return report


async def check_proof(name: str, pdf: bytes, *, trust_roots: Sequence[x509.Certificate]) -> Report:
    """A proof PDF: its PAdES seal intact, covering the whole file, trusted, timestamped, with
    the validation data embedded (B-LT): checked from the PDF alone, no fetching."""
    report = Report()
    subject = f"proof {name}"
    try:
        reader = PdfFileReader(BytesIO(pdf))
        signatures = reader.embedded_signatures
        dss = DocumentSecurityStore.read_dss(reader)
    except Exception as e:
        report.fail(subject, f"not a readable PDF ({e.__class__.__name__}): altered or corrupted")
        return report
    if not signatures:
        report.fail(subject, "has no seal")
        return report
    if dss is None or not (dss.ocsps or dss.crls):
        report.fail(subject, "has no embedded revocation data: not PAdES B-LT")
    context = dss.as_validation_context(
        {"trust_roots": list(trust_roots), "allow_fetching": False, "revocation_mode": "soft-fail"}
    )
    try:
        status = await async_validate_pdf_signature(signatures[0], context)
    except Exception as e:
        report.fail(subject, f"its seal cannot be validated: {e}")
        return report
    if not (status.intact and status.valid):
        report.fail(subject, "the seal does not match the PDF: the proof was altered after sealing")
    elif not status.trusted:
        report.fail(subject, f"its seal ({_subject(status)}) does not chain to a trusted root")
    elif status.timestamp_validity is None or not status.timestamp_validity.intact:
        report.fail(subject, "its seal has no valid timestamp")
    else:
        report.passed.append(f"{subject}: PAdES seal intact, by {_subject(status)}, timestamped, B-LT")
    return report
