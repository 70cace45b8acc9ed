"""Fax: a cover page and the notice as a PDF, through an email-to-fax gateway.

The fax channel is the `Channel` interface (adapters.channels): an HTTP fax provider is
another implementation of it. The gateway address follows a configurable pattern such as
`{number}@fax.example`, the number in E.164 without the '+'.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from notifier.adapters.pdf import text_pdf
from notifier.adapters.telephony import check_number
from notifier.adapters.templates import render
from notifier.domain.email import Attachment, Email
from notifier.domain.notice import Notice, deadline_text
from notifier.service_layer.ports import Mailer


def fax_pages(notice: Notice) -> list[list[str]]:
    """Cover page, then the notice text (CPCE R.53-3: neither sender nor subject)."""
    french = notice.language == "fr"
    cover = [
        "Télécopie" if french else "Fax",
        "",
        "Objet : avis de lettre recommandée électronique"
        if french
        else "Registered electronic letter notice",
        f"Numéro de pli : {notice.item_number}" if french else f"Item number: {notice.item_number}",
        f"Date limite : {deadline_text(notice)}" if french else f"Deadline: {deadline_text(notice)}",
        "Pages : 2 (dont celle-ci)" if french else "Pages: 2 (including this one)",
    ]
    text = render(notice)
    return [cover, [text.subject, "", *text.text.splitlines()]]


@dataclass(frozen=True)
class EmailFaxGateway:
    mailer: Mailer
    address_pattern: str  # e.g. "{number}@fax.example"

    async def deliver(self, notice: Notice, address: str, key: UUID | None = None) -> str:
        number = check_number(address).lstrip("+")
        pdf = text_pdf(fax_pages(notice))
        subject = render(notice).subject
        return await self.mailer.send(
            Email(
                to=self.address_pattern.format(number=number),
                subject=subject,
                text=subject,
                attachments=(Attachment(f"avis_{notice.item_number}.pdf", pdf),),
                key=key,  # a resent fax is the same email to the gateway
            )
        )
