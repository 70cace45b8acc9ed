"""The acknowledgement of receipt (AR) on the personal-certificate path, on the real parts:
the signer issues the AR of an accepted letter over the bus (request/reply), the recipient
signs it (PAdES) with a personal certificate of the test PKI, and the signer checks the
upload against the configured trust root, online (OCSP, CRL), at the signature's time when a
timestamp of the test TSA proves it, else at receipt: one reason for each failure."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import InsufficientRevinfoError
from pyhanko_certvalidator.path import ValidationPath
from pypdf import PdfReader

from lre_shared.contracts import (
    CheckSignedReceipt,
    IssueReceiptForm,
    LetterAccepted,
    LetterDeposited,
    ReceiptFormIssued,
    ReceiptProblem,
    Recipient,
    SignedReceiptChecked,
    now_utc,
)
from lre_shared.runtime import ServiceRuntime
from services.signer.tests.integration.test_signer_seals import (
    deposited,
    publish,
    start,
    stop,
    wait_for_records,
)
from services.signer.tests.unit.test_signer_receipt import ACCEPTANCE, DEPOSIT
from signer.adapters.pdf import RECIPIENT_FIELD_NAME, render_receipt_form
from signer.adapters.receipt_check import ReceiptChecker
from signer.domain.evidence import SealAssurance
from signer.domain.proofs import Provider
from signer.domain.receipt import accepted_letter, receipt_form
from signer.settings import SignerSettings
from tests.support.pki import TestPki, running_pki

pytestmark = pytest.mark.integration


@dataclass
class Signer:
    runtime: ServiceRuntime
    amqp_url: str

    async def receipt_form(self, letter_id: uuid.UUID) -> ReceiptFormIssued:
        query = IssueReceiptForm(correlation_id=letter_id)
        return await self.runtime.bus.ask(query, ReceiptFormIssued, timeout=30.0)

    async def check(self, letter_id: uuid.UUID, pdf: bytes) -> SignedReceiptChecked:
        query = CheckSignedReceipt(correlation_id=letter_id, pdf=pdf)
        return await self.runtime.bus.ask(query, SignedReceiptChecked, timeout=30.0)

    async def accepted_letter(self, recipient: Recipient | None = None) -> LetterDeposited:
        letter = deposited()
        if recipient is not None:
            letter = letter.model_copy(update={"recipient": recipient})
        await publish(self.amqp_url, letter)
        await wait_for_records(self.runtime.pool, letter.correlation_id, 1)
        await publish(
            self.amqp_url,
            LetterAccepted(
                correlation_id=letter.correlation_id, item_number=letter.item_number, accepted_at=now_utc()
            ),
        )
        await wait_for_records(self.runtime.pool, letter.correlation_id, 2)
        return letter


@pytest.fixture
async def signer(test_pki: TestPki, amqp_url: str, database_url: str) -> AsyncIterator[Signer]:
    settings = SignerSettings(
        amqp_url=amqp_url,
        database_url=database_url,
        http_port=0,
        outbox_poll_seconds=0.2,
        receipt_trust_root_files=(test_pki.root_file,),
    )
    runtime = await start(settings, amqp_url)
    try:
        yield Signer(runtime, amqp_url)
    finally:
        await stop(runtime)


async def signed_by(
    pki: TestPki, label: str, pdf: bytes, *, chain: bool = True, timestamper: TimeStamper | None = None
) -> bytes:
    """The recipient signs the AR in its signature field, with a personal certificate (and a
    signature timestamp from `timestamper`)."""
    key = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
        str(pki.key_file(label)),
        str(pki.cert_file(label)),
        ca_chain_files=[str(p) for p in pki.chain_files] if chain else [],
    )
    output = await signers.async_sign_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)),
        signers.PdfSignatureMetadata(field_name=RECIPIENT_FIELD_NAME),
        signer=key,
        timestamper=timestamper,
    )
    signed: bytes = output.getvalue()
    return signed


# ---------------------------------------------------------------------------- issuing


async def test_the_ar_of_an_accepted_letter_is_issued_once_and_names_the_letter(signer: Signer) -> None:
    letter = await signer.accepted_letter()

    first = await signer.receipt_form(letter.correlation_id)
    again = await signer.receipt_form(letter.correlation_id)

    assert first.reason is None
    assert first.filename == f"ar_{letter.item_number}.pdf"
    assert again.pdf == first.pdf  # the same bytes at every request: those are the ones to sign
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(first.pdf)).pages)
    assert "Avis de réception" in text
    assert letter.item_number in text
    assert f"{letter.recipient.first_name} {letter.recipient.last_name}" in text
    assert letter.sender.name in text  # accepted: the sender may be named (CPCE R.53-3)


async def test_no_ar_is_issued_before_the_letter_is_accepted(signer: Signer) -> None:
    letter = deposited()
    await publish(signer.amqp_url, letter)
    await wait_for_records(signer.runtime.pool, letter.correlation_id, 1)

    reply = await signer.receipt_form(letter.correlation_id)

    assert reply.pdf == b""
    assert reply.reason == "the letter is not accepted: no acknowledgement of receipt to sign"


# ------------------------------------------------------------------- certificate path


async def test_an_ar_signed_by_the_recipient_with_a_trusted_certificate_is_accepted(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)

    reply = await signer.check(letter.correlation_id, await signed_by(test_pki, "recipient", form.pdf))

    assert reply.accepted, reply.detail
    assert reply.problem is None
    assert reply.signer_name == "Camille Martin"
    stored = await signer.runtime.pool.fetchrow(
        "SELECT signed_by, signed_accepted_at FROM receipt_forms WHERE letter_id = $1", letter.correlation_id
    )
    assert stored["signed_by"] == "Camille Martin"
    assert stored["signed_accepted_at"] is not None


async def test_an_accepted_ar_is_kept_with_the_revocation_data_its_check_used_to_judge_it_offline(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)
    signed = await signed_by(test_pki, "recipient", form.pdf)

    reply = await signer.check(letter.correlation_id, signed)
    stored = await signer.runtime.pool.fetchrow(
        "SELECT signed_pdf, signed_pdf_lt FROM receipt_forms WHERE letter_id = $1", letter.correlation_id
    )

    assert reply.accepted, reply.detail
    assert reply.judged_at is not None
    kept, long_term = bytes(stored["signed_pdf"]), bytes(stored["signed_pdf_lt"])
    assert kept == signed and long_term.startswith(signed)  # the uploaded bytes, as hashed
    dss = DocumentSecurityStore.read_dss(PdfFileReader(BytesIO(long_term)))
    assert dss.ocsps or dss.crls
    # Judged again from the file alone: nothing fetched, revocation data required.
    rechecked = await offline_path(long_term, test_pki, reply.judged_at)
    assert rechecked.leaf.subject == test_pki.cert("recipient").subject
    with pytest.raises(InsufficientRevinfoError):
        await offline_path(signed, test_pki, reply.judged_at)  # as uploaded: no revocation data


async def offline_path(pdf: bytes, pki: TestPki, at: datetime) -> ValidationPath:
    """The AR signer's certificate validated from what the PDF embeds: no fetching, hard-fail."""
    reader = PdfFileReader(BytesIO(pdf))
    signature = reader.embedded_signatures[0]
    dss = DocumentSecurityStore.read_dss(reader) if "/DSS" in reader.root else None
    settings = {
        "trust_roots": [pki.cert("root")],
        "allow_fetching": False,
        "revocation_mode": "hard-fail",
        "moment": at,
        "retroactive_revinfo": True,
    }
    context = dss.as_validation_context(settings) if dss else ValidationContext(**settings, crls=[], ocsps=[])  # type: ignore[arg-type]
    validator = CertificateValidator(
        signature.signer_cert, intermediate_certs=signature.other_embedded_certs, validation_context=context
    )
    return await validator.async_validate_path()


async def test_an_ar_signed_with_a_revoked_certificate_is_refused_as_revoked(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)

    reply = await signer.check(
        letter.correlation_id, await signed_by(test_pki, "recipient-revoked", form.pdf)
    )

    assert not reply.accepted
    assert reply.problem is ReceiptProblem.revoked
    assert "revoked on 2021-01-01" in reply.detail
    assert reply.problem_at == datetime(2021, 1, 1, tzinfo=UTC)
    assert reply.timestamped is False  # no timestamp: judged at receipt


async def test_an_ar_signed_with_a_certificate_of_an_untrusted_root_is_refused_as_untrusted(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)

    signed = await signed_by(test_pki, "rogue-recipient", form.pdf, chain=False)
    reply = await signer.check(letter.correlation_id, signed)

    assert not reply.accepted
    assert reply.problem is ReceiptProblem.untrusted
    assert "LRE TEST Untrusted CA" in reply.detail


async def test_a_signed_ar_that_is_not_the_one_issued_for_the_letter_is_refused(
    signer: Signer, test_pki: TestPki
) -> None:
    letter, other = await asyncio.gather(signer.accepted_letter(), signer.accepted_letter())
    await signer.receipt_form(letter.correlation_id)
    other_form = await signer.receipt_form(other.correlation_id)

    reply = await signer.check(letter.correlation_id, await signed_by(test_pki, "recipient", other_form.pdf))

    assert not reply.accepted
    assert reply.problem is ReceiptProblem.not_our_receipt
    assert "not, byte for byte, the AR issued for this letter" in reply.detail


async def test_an_ar_whose_content_was_changed_before_signing_is_refused_as_not_ours(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)
    writer = IncrementalPdfFileWriter(BytesIO(form.pdf))
    writer.root["/Lang"] = generic.TextStringObject("en")  # type: ignore[no-untyped-call]
    writer.update_root()
    edited = BytesIO()
    writer.write(edited)  # type: ignore[no-untyped-call]

    reply = await signer.check(
        letter.correlation_id, await signed_by(test_pki, "recipient", edited.getvalue())
    )

    assert reply.problem is ReceiptProblem.not_our_receipt
    assert reply.detail == "the AR was changed and saved again before it was signed"


async def test_an_ar_signed_by_someone_else_than_the_recipient_is_refused_as_a_name_mismatch(
    signer: Signer, test_pki: TestPki
) -> None:
    someone_else = deposited().recipient.model_copy(update={"first_name": "Dominique", "last_name": "Durand"})
    letter = await signer.accepted_letter(someone_else)
    form = await signer.receipt_form(letter.correlation_id)

    reply = await signer.check(letter.correlation_id, await signed_by(test_pki, "recipient", form.pdf))

    assert not reply.accepted
    assert reply.problem is ReceiptProblem.name_mismatch
    assert reply.detail == "the certificate names Camille Martin, not the recipient Dominique Durand"


async def test_an_unsigned_ar_is_refused_as_unsigned(signer: Signer) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)

    reply = await signer.check(letter.correlation_id, form.pdf)

    assert reply.problem is ReceiptProblem.unsigned


async def test_an_ar_altered_after_signing_is_refused_as_broken(signer: Signer, test_pki: TestPki) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)
    signed = await signed_by(test_pki, "recipient", form.pdf)

    at = signed.index(b"stream\n") + 20  # inside the first page's (compressed) text
    reply = await signer.check(
        letter.correlation_id, signed[:at] + bytes([signed[at] ^ 1]) + signed[at + 1 :]
    )

    assert reply.problem is ReceiptProblem.signature_broken


async def test_a_signed_ar_for_a_letter_with_no_ar_issued_is_refused(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()

    reply = await signer.check(letter.correlation_id, b"%PDF-1.7 whatever")

    assert reply.problem is ReceiptProblem.not_issued


async def test_an_ar_whose_certificate_status_cannot_be_learnt_is_refused_as_unknown(tmp_path: Path) -> None:
    """A PKI whose OCSP responder and CRLs are gone by the time of the check: hard-fail."""
    letter = accepted_letter([DEPOSIT, ACCEPTANCE], policy_id="urn:lre:policy:test")
    issued = render_receipt_form(
        receipt_form(letter, str(uuid.uuid4())),
        Provider(
            "LRE Démo SAS",
            "RCS Paris 000 000 000",
            "Paris",
            "urn:lre:policy:test",
            SealAssurance(sealed=True),
        ),
    )
    with running_pki(tmp_path) as gone:
        signed = await signed_by(gone, "recipient", issued)
        checker = ReceiptChecker([gone.cert("root")])
    try:
        verdict = await checker.check(signed, issued, letter.recipient, datetime.now(UTC))
    finally:
        await checker.close()

    assert verdict.problem is ReceiptProblem.revocation_unknown


# ------------------------------------------------------ the certificate, at the signature's time

IN_2020 = datetime(2020, 6, 1, tzinfo=UTC)  # within recipient-expired's validity, before any revocation


async def test_an_ar_signed_with_an_expired_certificate_is_refused_as_expired(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)

    reply = await signer.check(
        letter.correlation_id, await signed_by(test_pki, "recipient-expired", form.pdf)
    )

    assert not reply.accepted
    assert reply.problem is ReceiptProblem.expired
    assert reply.problem_at == datetime(2021, 1, 1, tzinfo=UTC)
    assert reply.timestamped is False
    assert reply.judged_at is not None and reply.judged_at > reply.problem_at
    assert reply.certificate_issuer is not None and "LRE TEST Intermediate CA" in reply.certificate_issuer


async def test_an_expired_certificate_is_refused_when_the_timestamp_proves_a_signature_after_expiry(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)
    signed = await signed_by(test_pki, "recipient-expired", form.pdf, timestamper=test_pki.timestamper())

    reply = await signer.check(letter.correlation_id, signed)

    assert reply.problem is ReceiptProblem.expired
    assert reply.timestamped is True  # judged at the time the test TSA vouches for
    assert reply.judged_at is not None and reply.judged_at.year >= 2025


async def test_a_signature_timestamped_while_its_certificate_was_valid_is_accepted_after_expiry(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)
    signed = await signed_by(
        test_pki, "recipient-expired", form.pdf, timestamper=test_pki.timestamper(IN_2020)
    )

    reply = await signer.check(letter.correlation_id, signed)

    assert reply.accepted, reply.detail
    assert reply.timestamped is True
    assert reply.judged_at == IN_2020


async def test_a_signature_timestamped_before_its_certificate_was_revoked_is_accepted(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)
    signed = await signed_by(
        test_pki, "recipient-revoked", form.pdf, timestamper=test_pki.timestamper(IN_2020)
    )

    reply = await signer.check(letter.correlation_id, signed)

    assert reply.accepted, reply.detail
    assert reply.judged_at == IN_2020


async def test_a_revoked_certificate_is_refused_when_the_timestamp_proves_a_signature_after_revocation(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)
    signed = await signed_by(test_pki, "recipient-revoked", form.pdf, timestamper=test_pki.timestamper())

    reply = await signer.check(letter.correlation_id, signed)

    assert reply.problem is ReceiptProblem.revoked
    assert reply.timestamped is True
    assert reply.problem_at == datetime(2021, 1, 1, tzinfo=UTC)


async def test_an_ar_signed_with_a_certificate_not_valid_yet_is_refused_as_not_yet_valid(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)

    reply = await signer.check(letter.correlation_id, await signed_by(test_pki, "recipient-future", form.pdf))

    assert reply.problem is ReceiptProblem.not_yet_valid
    assert reply.problem_at == datetime(2090, 1, 1, tzinfo=UTC)


async def test_an_ar_signed_with_a_key_not_meant_for_signing_is_refused_as_wrong_key_usage(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)

    reply = await signer.check(
        letter.correlation_id, await signed_by(test_pki, "recipient-encipher", form.pdf)
    )

    assert reply.problem is ReceiptProblem.wrong_key_usage
    assert reply.signer_name == "Camille Martin"


async def test_an_ar_signed_with_a_timestamp_is_accepted_and_judged_at_the_timestamp(
    signer: Signer, test_pki: TestPki
) -> None:
    letter = await signer.accepted_letter()
    form = await signer.receipt_form(letter.correlation_id)
    before = datetime.now(UTC)
    signed = await signed_by(test_pki, "recipient", form.pdf, timestamper=test_pki.timestamper())

    reply = await signer.check(letter.correlation_id, signed)

    assert reply.accepted, reply.detail
    assert reply.timestamped is True
    assert reply.judged_at is not None and before <= reply.judged_at <= datetime.now(UTC)
