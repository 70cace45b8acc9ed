"""The acknowledgement of receipt (AR) on the personal-certificate path: issue the AR to
sign, check the signed AR that comes back (CPCE R.53-3; see `domain/receipt.py`).

Both are request/reply queries from the pickup site, where the recipient waits: no inbox
(asking twice is harmless). The AR is issued once per letter and kept byte for byte: every
later request gets the same bytes, and a signed AR is compared against them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from lre_shared.bus import Transaction
from lre_shared.messages import (
    CheckSignedReceipt,
    IssueReceiptForm,
    Message,
    ReceiptFormIssued,
    ReceiptProblem,
    SignedReceiptChecked,
)
from signer.domain.proofs import ProofContent
from signer.domain.receipt import NotReady, Recipient, Verdict, accepted_letter, receipt_form

log = logging.getLogger(__name__)

RenderReceiptForm = Callable[[ProofContent], bytes]
# A signed AR is our one-page AR plus a signature, its chain and perhaps validation data.
MAX_SIGNED_RECEIPT_BYTES = 10 * 1024 * 1024


class SignedReceiptChecker(Protocol):
    async def check(
        self, signed: bytes, issued: bytes, recipient: Recipient, received_at: datetime
    ) -> Verdict: ...


async def issue_receipt_form(
    query: IssueReceiptForm, tx: Transaction, *, policy_id: str, render: RenderReceiptForm
) -> Message:
    letter_id = query.correlation_id
    row = await tx.conn.fetchrow(
        "SELECT filename, pdf, sha256 FROM receipt_forms WHERE letter_id = $1", letter_id
    )
    if row is None:
        records = await tx.conn.fetch(
            "SELECT record FROM evidence WHERE letter_id = $1 ORDER BY seq", letter_id
        )
        try:
            letter = accepted_letter([bytes(r["record"]) for r in records], policy_id=policy_id)
        except NotReady as e:
            return ReceiptFormIssued(
                correlation_id=letter_id, filename="", pdf=b"", sha256=None, reason=str(e)
            )
        content = receipt_form(letter, str(letter_id))
        pdf = render(content)
        recipient = letter.recipient
        await tx.conn.execute(
            "INSERT INTO receipt_forms (letter_id, filename, pdf, sha256, recipient)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (letter_id) DO NOTHING",
            letter_id,
            content.filename,
            pdf,
            hashlib.sha256(pdf).hexdigest(),
            json.dumps(
                {
                    "first_name": recipient.first_name,
                    "last_name": recipient.last_name,
                    "email": recipient.email,
                }
            ),
        )
        # Another replica may have issued it meanwhile: the stored AR is the one.
        row = await tx.conn.fetchrow(
            "SELECT filename, pdf, sha256 FROM receipt_forms WHERE letter_id = $1", letter_id
        )
    return ReceiptFormIssued(
        correlation_id=letter_id, filename=row["filename"], pdf=bytes(row["pdf"]), sha256=row["sha256"]
    )


async def check_signed_receipt(
    query: CheckSignedReceipt, tx: Transaction, *, checker: SignedReceiptChecker
) -> Message:
    letter_id = query.correlation_id
    row = await tx.conn.fetchrow("SELECT pdf, recipient FROM receipt_forms WHERE letter_id = $1", letter_id)
    if row is None:
        verdict = Verdict(
            ReceiptProblem.not_issued, "no AR was issued for this letter: download the AR, sign it, upload it"
        )
    elif len(query.pdf) > MAX_SIGNED_RECEIPT_BYTES:
        verdict = Verdict(
            ReceiptProblem.unreadable,
            f"the file is {len(query.pdf)} bytes; a signed AR is far smaller: upload the signed AR itself",
        )
    else:
        recipient = json.loads(row["recipient"])
        verdict = await checker.check(
            query.pdf,
            bytes(row["pdf"]),
            Recipient(recipient["first_name"], recipient["last_name"], recipient["email"]),
            # The pickup site asks at once: its message's time is when the platform received it.
            query.occurred_at,
        )
    if verdict.accepted:
        await tx.conn.execute(
            "UPDATE receipt_forms SET signed_pdf = $2, signed_by = $3, signed_accepted_at = now()"
            " WHERE letter_id = $1 AND signed_pdf IS NULL",
            letter_id,
            query.pdf,
            verdict.signer_name,
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
