"""The acknowledgement of receipt (AR) on the personal-certificate path: issue the AR to
sign, check the signed AR that comes back (CPCE R.53-3; see `domain/receipt.py`).

Both are request/reply queries from the pickup site, where the recipient waits: no inbox
(asking twice is harmless). The AR is issued once per letter and kept byte for byte: every
later request gets the same bytes, and a signed AR is compared against them.
"""

from __future__ import annotations

import hashlib
import logging

from lre_shared.contracts import (
    CheckSignedReceipt,
    IssueReceiptForm,
    Message,
    ReceiptFormIssued,
    ReceiptProblem,
    SignedReceiptChecked,
)
from signer.domain.receipt import NotReady, Verdict, accepted_letter, receipt_form
from signer.service_layer.ports import ReceiptForm, RenderReceiptForm, SignedReceiptChecker, UnitOfWork

log = logging.getLogger(__name__)

# A signed AR is our one-page AR plus a signature, its chain and perhaps validation data.
MAX_SIGNED_RECEIPT_BYTES = 10 * 1024 * 1024


async def issue_receipt_form(
    query: IssueReceiptForm, uow: UnitOfWork, *, policy_id: str, render: RenderReceiptForm
) -> Message:
    letter_id = query.correlation_id
    form = await uow.receipt_forms.get(letter_id)
    if form is None:
        records = [chained.body for chained in await uow.evidence.chain(letter_id)]
        try:
            letter = accepted_letter(records, policy_id=policy_id)
        except NotReady as e:
            return ReceiptFormIssued(
                correlation_id=letter_id, filename="", pdf=b"", sha256=None, reason=str(e)
            )
        content = receipt_form(letter, str(letter_id))
        pdf = render(content)
        await uow.receipt_forms.add(
            letter_id, ReceiptForm(content.filename, pdf, hashlib.sha256(pdf).hexdigest(), letter.recipient)
        )
        # Another replica may have issued it meanwhile: the stored AR is the one.
        form = await uow.receipt_forms.get(letter_id)
        assert form is not None  # just added, or added by the other replica
    return ReceiptFormIssued(
        correlation_id=letter_id, filename=form.filename, pdf=form.pdf, sha256=form.sha256
    )


async def check_signed_receipt(
    query: CheckSignedReceipt, uow: UnitOfWork, *, checker: SignedReceiptChecker
) -> Message:
    letter_id = query.correlation_id
    form = await uow.receipt_forms.get(letter_id)
    if form is None:
        verdict = Verdict(
            ReceiptProblem.not_issued, "no AR was issued for this letter: download the AR, sign it, upload it"
        )
    elif len(query.pdf) > MAX_SIGNED_RECEIPT_BYTES:
        verdict = Verdict(
            ReceiptProblem.unreadable,
            f"the file is {len(query.pdf)} bytes; a signed AR is far smaller: upload the signed AR itself",
        )
    else:
        verdict = await checker.check(
            query.pdf,
            form.pdf,
            form.recipient,
            # The pickup site asks at once: its message's time is when the platform received it.
            query.occurred_at,
        )
    if verdict.accepted:
        await uow.receipt_forms.accept_signed(
            letter_id, query.pdf, verdict.signer_name, long_term=verdict.long_term
        )
    log.info(
        "signed AR %s: %s",
        "accepted" if verdict.accepted else f"refused ({verdict.problem})",
        verdict.detail,
        extra={"letter_id": str(letter_id), "message_id": str(query.message_id)},
    )
    return SignedReceiptChecked(
        correlation_id=letter_id,
        accepted=verdict.accepted,
        problem=verdict.problem,
        detail=verdict.detail,
        signer_name=verdict.signer_name,
        certificate_issuer=verdict.issuer_name,
        problem_at=verdict.problem_at,
        judged_at=verdict.judged_at,
        timestamped=verdict.timestamped,
    )
