"""Checks an acknowledgement of receipt (AR) the recipient signed with a personal
certificate (PAdES), with pyHanko: one reason for each way it can fail.

In order: the file reads and holds a signature; the signature is intact and covers the file
up to its end (or only long-term validation data follows); the signed revision is the AR we
issued, byte for byte (our bytes are the file's first revision, and the signing update
changed nothing but the signature field: pyHanko's difference analysis, at most form
filling); the certificate chains to a configured trust root and is not revoked, asked
online (OCSP, else CRL) and hard-failing when neither answers; the certificate names the
recipient.

The certificate's status is checked at the moment of the check: a signature without a
trusted timestamp proves no earlier signing time, and the upload follows the signing.
The work runs on its own thread and event loop, like sealing: parsing, difference analysis
and OCSP round trips never stall the loop that consumes messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO

from asn1crypto import x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, DiffResult, ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import InsufficientRevinfoError
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from lre_shared.messages import ReceiptProblem
from signer.adapters.worker_loop import WorkerLoop
from signer.domain.receipt import Recipient, Verdict, names_match


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


class ReceiptChecker:
    """Checks signed ARs against `trust_roots` (the roots personal certificates may chain to)."""

    def __init__(self, trust_roots: Sequence[x509.Certificate]) -> None:
        self._trust_roots = list(trust_roots)
        self._checking: WorkerLoop | None = None  # started at the first check
        self._fetchers = AIOHttpFetcherBackend()  # one HTTP session for OCSP and CRLs

    async def check(self, signed: bytes, issued: bytes, recipient: Recipient) -> Verdict:
        if self._checking is None:
            self._checking = WorkerLoop("receipt-checking")
        return await self._checking.run_async(self._check(signed, issued, recipient))

    async def close(self) -> None:
        if self._checking is not None:
            await self._checking.run_async(self._fetchers.close())  # type: ignore[no-untyped-call]
            self._checking.close()
            self._checking = None

    @staticmethod
    async def _revocation_unknown(signature: EmbeddedPdfSignature, context: ValidationContext) -> bool:
        """pyHanko reports a chain whose revocation status nobody could give as a general chain
        failure; the path validator's own error tells it apart."""
        validator = CertificateValidator(
            signature.signer_cert,
            intermediate_certs=signature.other_embedded_certs,
            validation_context=context,
        )
        try:
            await validator.async_validate_usage(set())  # type: ignore[no-untyped-call]
        except InsufficientRevinfoError:
            return True
        except Exception:
            return False
        return False

    async def _check(self, signed: bytes, issued: bytes, recipient: Recipient) -> Verdict:
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
        context = ValidationContext(
            trust_roots=self._trust_roots,
            allow_fetching=True,
            revocation_mode="hard-fail",
            fetcher_backend=self._fetchers,
        )
        try:
            status = await async_validate_pdf_signature(signature, context)
        except Exception as e:
            return Verdict(ReceiptProblem.signature_broken, f"the signature cannot be validated: {e}")
        names = certificate_names(status.signing_cert)
        signer = names[0] if names else status.signing_cert.subject.human_friendly
        if not (status.intact and status.valid):
            return Verdict(
                ReceiptProblem.signature_broken,
                "the signature does not match the signed bytes: the document was altered after signing",
                signer,
            )
        later = status.modification_level
        if status.coverage < SignatureCoverageLevel.ENTIRE_REVISION or (
            later is not None and later > ModificationLevel.LTA_UPDATES
        ):
            return Verdict(
                ReceiptProblem.modified_after_signing,
                "the document was changed after it was signed: upload it as signed",
                signer,
            )
        if difference := _is_our_receipt(reader, signature, signed, issued):
            return Verdict(ReceiptProblem.not_our_receipt, difference, signer)
        if status.revoked:
            details = status.revocation_details
            when = "" if details is None else f" on {details.revocation_date.isoformat()}"
            return Verdict(ReceiptProblem.revoked, f"the certificate of {signer} was revoked{when}", signer)
        indication = status.trust_problem_indic
        if indication in (AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE):
            return Verdict(ReceiptProblem.revoked, f"the certificate chain of {signer} was revoked", signer)
        if indication is AdESFailure.REVOKED:
            return Verdict(ReceiptProblem.revoked, f"the certificate of {signer} was revoked", signer)
        if indication is AdESIndeterminate.TRY_LATER or (
            indication is AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE
            and await self._revocation_unknown(signature, context)
        ):
            return Verdict(
                ReceiptProblem.revocation_unknown,
                "no OCSP responder or CRL could say whether the certificate is revoked; try again later",
                signer,
            )
        if indication is not None or status.validation_path is None:
            issuer = status.signing_cert.issuer.human_friendly
            why = "" if indication is None else f" ({indication})"
            return Verdict(
                ReceiptProblem.untrusted,
                f"the certificate of {signer}, issued by {issuer}, does not chain to a trusted root{why}",
                signer,
            )
        if not names_match(recipient, names):
            return Verdict(
                ReceiptProblem.name_mismatch,
                f"the certificate names {signer}, not the recipient {recipient.name}",
                signer,
            )
        return Verdict(None, f"signed by {signer}: intact, trusted, not revoked, the AR issued", signer)
