"""Checks a record's seal and its RFC 3161 timestamp with pyHanko, offline.

A record's seal is its Merkle batch's (see `domain/merkle.py`): the record must climb its
inclusion proof to the root the batch statement names, and the statement's CAdES-T seal and
timestamp must hold.

Offline means no fetching: the chain is built from the certificates embedded in the seal
and checked against the trust roots given on the command line; revocation is checked only
if its data is embedded (soft-fail otherwise, said in the report), or when CRLs are given
(`lre verify --crl`).

Revocation and key rotation (docs/OPERATIONS.md, seal-key rotation): a seal counts from its
RFC 3161 timestamp, so a record timestamped before its seal certificate's revocation date
stays valid (the timestamp proves it was sealed while the key was good); one timestamped at
or after that date fails. This is what lets an old key be revoked once it is rotated out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from asn1crypto import cms, x509
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko_certvalidator import ValidationContext

from signer.domain.merkle import RecordSeal
from signer.domain.verification import Report, StoredRecord


def offline(trust_roots: Sequence[x509.Certificate]) -> dict[str, Any]:
    """Validation from what the seal or PDF embeds, and the roots given: nothing fetched."""
    return {"trust_roots": list(trust_roots), "allow_fetching": False, "revocation_mode": "soft-fail"}


def _subject(status: Any) -> str:
    subject = status.signing_cert.subject.native
    return str(subject.get("common_name") or status.signing_cert.subject.human_friendly)


async def check_seal(
    record: StoredRecord,
    seal: bytes | None,
    *,
    claims_sealed: bool,
    trust_roots: Sequence[x509.Certificate],
    crls: Sequence[bytes] = (),
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
        return report.fail(name, f"its seal is not readable ({e.__class__.__name__})")
    if not covered:
        return report.fail(name, "the seal does not match the record: the record was altered after sealing")
    context = ValidationContext(**offline(trust_roots))
    try:
        status = await async_validate_detached_cms(
            record_seal.statement,
            signed_data,
            signer_validation_context=context,
            ts_validation_context=context,
        )
    except Exception as e:
        return report.fail(name, f"its seal cannot be validated: {e}")
    if not status.intact:
        return report.fail(name, "the batch seal does not match its statement: the seal was altered")
    if not status.valid:
        return report.fail(name, "the seal's signature is invalid")
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
        if crls and status.trusted:
            report.extend(check_revocation(name, status.signing_cert, signed_data, timestamp.timestamp, crls))
    return report


def check_revocation(
    name: str,
    signing_cert: x509.Certificate,
    signed_data: cms.SignedData,
    sealed_at: datetime,
    crls: Sequence[bytes],
) -> Report:
    """The seal certificate against the CRLs given: revoked before the seal's timestamp fails;
    revoked after it, the record stays valid (module docstring)."""
    report = Report()
    leaf = cx509.load_der_x509_certificate(signing_cert.dump())
    issuers = [
        cx509.load_der_x509_certificate(choice.chosen.dump())
        for choice in signed_data["certificates"]
        if choice.name == "certificate"
    ]
    issuer = next((c for c in issuers if c.subject == leaf.issuer and _issued(leaf, c)), None)
    subject = leaf.subject.rfc4514_string()
    if issuer is None:
        return report.fail(name, f"revocation not checked: the seal does not carry the issuer of {subject}")
    for data in crls:
        crl = _load_crl(data)
        if crl is None or crl.issuer != leaf.issuer or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            continue
        revoked = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
        if revoked is None:
            report.passed.append(
                f"{name}: seal certificate not revoked (CRL of {crl.last_update_utc.date()})"
            )
            return report
        when = revoked.revocation_date_utc
        reason = _reason(revoked)
        if sealed_at.astimezone(UTC) < when:
            report.passed.append(
                f"{name}: seal certificate revoked on {when.isoformat()}{reason}, after the record's"
                f" timestamp {sealed_at.isoformat()}: the record stays valid"
            )
        else:
            report.fail(
                name,
                f"its seal certificate ({subject}) was revoked on {when.isoformat()}{reason}, before"
                f" the record's timestamp {sealed_at.isoformat()}: the seal is not valid",
            )
        return report
    return report.fail(name, f"revocation not checked: no CRL given signed by the issuer of {subject}")


def _issued(leaf: cx509.Certificate, issuer: cx509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _load_crl(data: bytes) -> cx509.CertificateRevocationList | None:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return cx509.load_pem_x509_crl(data)
        return cx509.load_der_x509_crl(data)
    except ValueError:
        return None


def _reason(revoked: cx509.RevokedCertificate) -> str:
    try:
        reason = revoked.extensions.get_extension_for_class(cx509.CRLReason).value.reason
    except cx509.ExtensionNotFound:
        return ""
    return f" ({reason.name})"


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
        return report.fail(subject, f"not a readable PDF ({e.__class__.__name__}): altered or corrupted")
    if not signatures:
        return report.fail(subject, "has no seal")
    if dss is None or not (dss.ocsps or dss.crls):
        report.fail(subject, "has no embedded revocation data: not PAdES B-LT")
    context = dss.as_validation_context(offline(trust_roots))
    try:
        status = await async_validate_pdf_signature(signatures[0], context)
    except Exception as e:
        return report.fail(subject, f"its seal cannot be validated: {e}")
    if not (status.intact and status.valid):
        report.fail(subject, "the seal does not match the PDF: the proof was altered after sealing")
    elif not status.trusted:
        report.fail(subject, f"its seal ({_subject(status)}) does not chain to a trusted root")
    elif status.timestamp_validity is None or not status.timestamp_validity.intact:
        report.fail(subject, "its seal has no valid timestamp")
    else:
        report.passed.append(f"{subject}: PAdES seal intact, by {_subject(status)}, timestamped, B-LT")
    return report


def proof_attachments(pdf: bytes) -> dict[str, bytes]:
    """The files a proof carries (PDF/A-3 associated files), name → bytes, as its seal covers
    them: read from the revision the seal signs, so that a file added by a later incremental
    update is not taken for one the provider sealed. Empty for an unreadable PDF (check_proof
    names it)."""
    try:
        reader = PdfFileReader(BytesIO(pdf))
        signatures = reader.embedded_signatures
        if signatures:
            *_, second, length = (int(n) for n in signatures[0].byte_range)
            reader = PdfFileReader(BytesIO(pdf[: second + length]))
        names = reader.root.get("/Names")
        tree = None if names is None else names.get("/EmbeddedFiles")
        return {} if tree is None else _embedded(tree)
    except Exception:
        return {}


def _embedded(node: Any) -> dict[str, bytes]:
    """The files of an EmbeddedFiles name tree (ISO 32000-1 §7.9.6), leaves and kids."""
    files: dict[str, bytes] = {}
    pairs = list(node.get("/Names", ()))
    for name, spec in zip(pairs[::2], pairs[1::2], strict=True):
        stream = spec.get_object()["/EF"]["/F"].get_object()
        files[str(name)] = stream.data
    for kid in node.get("/Kids", ()):
        files.update(_embedded(kid.get_object()))
    return files
