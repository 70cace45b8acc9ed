"""Checks an acknowledgement of receipt (AR) the recipient signed with a personal
certificate (PAdES), with pyHanko: one reason for each way it can fail.

In order: the file reads and holds a signature; the signature is intact and covers the file
up to its end (or only long-term validation data follows); the signed revision is the AR we
issued, byte for byte (our bytes are the file's first revision, and the signing update
changed nothing but the signature field: pyHanko's difference analysis, at most form
filling); the certificate chains to a configured trust root, was within its validity and not
revoked, asked online (OCSP, else CRL) and hard-failing when neither answers; its key is
meant for signing; the certificate names the recipient.

When is the certificate judged? At the signature's time when a signature timestamp from a
trusted TSA (RFC 3161, its own chain and revocation checked now) proves it: a certificate
that expired or was revoked after that time still vouches for the signature (ETSI EN 319
102-1, validation at a past time). Without one, nothing proves an earlier signing time than
the upload's, so the certificate is judged at the time the platform received the AR.
Revocation data fetched now is taken as evidence of the status at that earlier time (it
says whether, and since when, the certificate is revoked); holds, which are reversible, are
not used by the CAs of personal signing certificates. An accepted AR is kept with what its
check used (the chain, the OCSP responses and CRLs, the TSA's too) added in its DSS, PAdES
B-LT (ETSI EN 319 142-1): the same judgement can be made again, offline, years later.

The work runs on its own thread and event loop, like sealing: parsing, difference analysis
and OCSP round trips never stall the loop that consumes messages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path

from asn1crypto import pem, x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, DiffResult, ModificationLevel
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.path import ValidationPath

from lre_shared.contracts import ReceiptProblem
from signer.adapters.worker_loop import WorkerLoop
from signer.domain.receipt import Recipient, Verdict, names_match

log = logging.getLogger(__name__)


def certificate_names(cert: x509.Certificate) -> list[str]:
    subject = cert.subject.native
    names = [str(subject.get("common_name") or "")]
    given, surname = subject.get("given_name"), subject.get("surname")
    if given and surname:
        names.append(f"{given} {surname}")
    return [name for name in names if name]


def _startxref(pdf: bytes) -> int | None:
    tail = pdf[-1024:]
    at = tail.rfind(b"startxref")
    if at < 0:
        return None
    try:
        return int(tail[at + len(b"startxref") :].split()[0])
    except (IndexError, ValueError):
        return None


def _is_our_receipt(
    reader: PdfFileReader, signature: EmbeddedPdfSignature, signed: bytes, issued: bytes
) -> str:
    """Empty when the signed revision is the issued AR plus the signature; else what differs."""
    ours = PdfFileReader(BytesIO(issued)).xrefs.total_revisions - 1  # the issued AR's last revision
    if (
        not signed.startswith(issued)
        or reader.xrefs.total_revisions <= ours + 1
        or reader.xrefs.get_startxref_for_revision(ours) != _startxref(issued)
    ):
        return "the signed document is not, byte for byte, the AR issued for this letter"
    if signature.signed_revision != ours + 1:
        return "the AR was changed and saved again before it was signed"
    try:
        review = DEFAULT_DIFF_POLICY.review_file(reader, ours)
    except PdfError:
        review = None
    if not isinstance(review, DiffResult) or review.modification_level > ModificationLevel.FORM_FILLING:
        return "the signature's update changes the AR's content, not only its signature field"
    return ""


# A key meant for signing: digitalSignature or nonRepudiation (contentCommitment; ETSI EN
# 319 412-2 sets it on certificates for electronic signatures). Not a key for encipherment or
# key agreement only, nor a CA's.
SIGNING_KEY_USAGE = KeyUsageConstraints(
    key_usage=frozenset({"digital_signature", "non_repudiation"}), match_all_key_usages=False
)


def read_trust_roots(files: Sequence[Path]) -> list[x509.Certificate]:
    """The certificates of PEM bundles (several certificates a file, text around them ignored)
    or DER files. A file of comments only (the manifests' placeholder, before the operator puts
    the roots in) holds none."""
    roots = []
    for path in files:
        data = path.read_bytes()
        if pem.detect(data):
            roots += [
                x509.Certificate.load(der)
                for kind, _, der in pem.unarmor(data, multiple=True)
                if kind == "CERTIFICATE"
            ]
        elif all(not line.strip() or line.lstrip().startswith(b"#") for line in data.splitlines()):
            continue
        else:
            roots.append(x509.Certificate.load(data))
    return roots


def _timestamp_time(status: PdfSignatureStatus) -> datetime | None:
    """The signing time a signature timestamp proves: intact, valid and from a trusted TSA."""
    stamp = status.timestamp_validity
    if stamp is None or not (stamp.intact and stamp.valid and stamp.trusted):
        return None
    return stamp.timestamp


class ReceiptChecker:
    """Checks signed ARs against `trust_roots`: the roots personal certificates may chain to,
    and the roots of the TSAs whose signature timestamps are believed."""

    def __init__(self, trust_roots: Sequence[x509.Certificate]) -> None:
        self._trust_roots = list(trust_roots)
        self._checking: WorkerLoop | None = None  # started at the first check
        self._fetchers = AIOHttpFetcherBackend()  # one HTTP session for OCSP and CRLs

    async def check(
        self, signed: bytes, issued: bytes, recipient: Recipient, received_at: datetime
    ) -> Verdict:
        if self._checking is None:
            self._checking = WorkerLoop("receipt-checking")
        return await self._checking.run_async(self._check(signed, issued, recipient, received_at))

    async def close(self) -> None:
        if self._checking is not None:
            await self._checking.run_async(self._fetchers.close())  # type: ignore[no-untyped-call]
            self._checking.close()
            self._checking = None

    def _online(self, moment: datetime | None = None) -> ValidationContext:
        """Revocation asked online and required (hard-fail), at `moment` (default: now)."""
        return ValidationContext(
            trust_roots=self._trust_roots,
            moment=moment,
            allow_fetching=True,
            revocation_mode="hard-fail",
            retroactive_revinfo=moment is not None,
            fetcher_backend=self._fetchers,
        )

    async def _check(
        self, signed: bytes, issued: bytes, recipient: Recipient, received_at: datetime
    ) -> Verdict:
        try:
            reader = PdfFileReader(BytesIO(signed))
            signatures = sorted(reader.embedded_signatures, key=lambda s: s.signed_revision)
        except (PdfError, ValueError, KeyError, TypeError) as e:
            return Verdict(ReceiptProblem.unreadable, f"not a readable PDF ({e.__class__.__name__})")
        if not signatures:
            return Verdict(
                ReceiptProblem.unsigned, "the document holds no signature: sign it, then upload it"
            )
        signature = signatures[0]
        # This first pass settles the signature's integrity and its timestamp (whose TSA is
        # checked online, now); the signer's certificate is judged below, at the right time.
        offline = ValidationContext(trust_roots=self._trust_roots, revocation_mode="soft-fail")
        stamp_context = self._online()
        try:
            status = await async_validate_pdf_signature(
                signature, signer_validation_context=offline, ts_validation_context=stamp_context
            )
        except Exception as e:
            return Verdict(ReceiptProblem.signature_broken, f"the signature cannot be validated: {e}")
        cert = status.signing_cert
        names = certificate_names(cert)
        signer = names[0] if names else cert.subject.human_friendly
        issuer = cert.issuer.human_friendly
        if not (status.intact and status.valid):
            return Verdict(
                ReceiptProblem.signature_broken,
                "the signature does not match the signed bytes: the document was altered after signing",
                signer,
                issuer,
            )
        later = status.modification_level
        if status.coverage < SignatureCoverageLevel.ENTIRE_REVISION or (
            later is not None and later > ModificationLevel.LTA_UPDATES
        ):
            return Verdict(
                ReceiptProblem.modified_after_signing,
                "the document was changed after it was signed: upload it as signed",
                signer,
                issuer,
            )
        if difference := _is_our_receipt(reader, signature, signed, issued):
            return Verdict(ReceiptProblem.not_our_receipt, difference, signer, issuer)

        stamped = _timestamp_time(status)
        judged_at = stamped or received_at
        when = f"at {judged_at.isoformat()} ({'signature timestamp' if stamped else 'receipt'})"

        def refused(problem: ReceiptProblem, detail: str, problem_at: datetime | None = None) -> Verdict:
            return Verdict(
                problem, f"{detail}, judged {when}", signer, issuer, problem_at, judged_at, bool(stamped)
            )

        context = self._online(judged_at)
        validator = CertificateValidator(
            cert, intermediate_certs=signature.other_embedded_certs, validation_context=context
        )
        try:
            path = await validator.async_validate_path()
        except PathBuildingError:
            return refused(
                ReceiptProblem.untrusted,
                f"the certificate of {signer}, issued by {issuer}, does not chain to a trusted root",
            )
        except ExpiredError as e:
            return refused(ReceiptProblem.expired, f"the certificate of {signer}: {e}", e.expired_dt)
        except NotYetValidError as e:
            return refused(ReceiptProblem.not_yet_valid, f"the certificate of {signer}: {e}", e.valid_from)
        except RevokedError as e:
            revoked = f"the certificate of {signer} was revoked on {e.revocation_dt.isoformat()}"
            return refused(ReceiptProblem.revoked, f"{revoked} ({e})", e.revocation_dt)
        except InsufficientRevinfoError as e:
            return refused(
                ReceiptProblem.revocation_unknown,
                f"no OCSP responder or CRL could say whether the certificate of {signer} is revoked ({e})",
            )
        except (PathValidationError, InvalidCertificateError) as e:
            return refused(
                ReceiptProblem.untrusted, f"the certificate chain of {signer} does not validate: {e}"
            )
        try:
            SIGNING_KEY_USAGE.validate(cert)
        except InvalidCertificateError as e:
            return refused(ReceiptProblem.wrong_key_usage, f"the key of {signer} is not for signing: {e}")
        if not names_match(recipient, names):
            return Verdict(
                ReceiptProblem.name_mismatch,
                f"the certificate names {signer}, not the recipient {recipient.name}",
                signer,
                issuer,
                judged_at=judged_at,
                timestamped=bool(stamped),
            )
        return Verdict(
            None,
            f"signed by {signer}: intact, the AR issued, certificate trusted, valid and not revoked {when}",
            signer,
            issuer,
            judged_at=judged_at,
            timestamped=bool(stamped),
            long_term=with_validation_data(signed, signature, path, context, stamp_context),
        )


def with_validation_data(
    signed: bytes,
    signature: EmbeddedPdfSignature,
    path: ValidationPath,
    context: ValidationContext,
    stamp_context: ValidationContext,
) -> bytes | None:
    """The signed AR with, in a DSS added by an incremental update (PAdES B-LT), the chain and
    the OCSP responses and CRLs its check used, the TSA's included: the judgement can be made
    again later from the file alone, with no network, at the same time. The uploaded bytes stay
    its first part, as their SHA-256 in the evidence states them. None (and an error logged)
    if the update cannot be written: the acceptance stands on the check made."""
    out = BytesIO(signed)
    try:
        DocumentSecurityStore.add_dss(
            out,
            signature.pkcs7_content,
            paths=[path],
            validation_context=context,
            ocsps=stamp_context.ocsps,
            crls=stamp_context.crls,
            force_write=True,
        )
    except Exception:
        log.exception("the signed AR's validation data could not be embedded")
        return None
    return out.getvalue()
