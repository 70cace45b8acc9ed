"""The signer's verdict on a signed acknowledgement of receipt (AR), in the page's language.

The signer answers with a reason (`ReceiptProblem`) and the facts behind it (who the
certificate names, who issued it, when it expired or was revoked, at what time it was judged
and whether a signature timestamp proves that time); its own `detail` is technical English
for logs and support staff, never shown. Here each reason has its message, and the facts
become the detail line under it, both in the page's language.
"""

from __future__ import annotations

from starlette.requests import Request

from lre_shared.contracts import ReceiptProblem, SignedReceiptChecked
from pickup.entrypoints.rendering import Pages


def explain(
    pages: Pages, request: Request, checked: SignedReceiptChecked, recipient: str
) -> tuple[str, str | None]:
    """The refusal's message, and the detail line (None when the facts to word it are missing)."""
    problem = checked.problem or ReceiptProblem.unreadable
    message = pages.t(request, f"receipt.{problem}")
    language = pages.language(request)
    values: dict[str, object] = {"recipient": recipient}
    if checked.signer_name:
        values["signer"] = checked.signer_name
    if checked.certificate_issuer:
        values["issuer"] = checked.certificate_issuer
    if checked.problem_at is not None:
        values["at"] = pages.when(checked.problem_at, language)
    if checked.judged_at is not None:
        basis = "receipt.judged.timestamp" if checked.timestamped else "receipt.judged.received"
        values["judged"] = pages.t(request, basis, when=pages.when(checked.judged_at, language))
    key = f"receipt.detail.{problem}"
    try:
        detail = pages.t(request, key, **values)
    except KeyError:  # no detail line for this reason, or a fact it needs is missing
        return message, None
    return message, detail
