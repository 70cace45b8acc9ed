"""Fax through an email-to-fax gateway: the real SMTP catcher receives the PDF."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader

from deploy.local.demo import DEMO_SENDER
from notifier.adapters.email import SmtpMailer
from notifier.adapters.fax import EmailFaxGateway
from notifier.domain.delivery import PermanentDeliveryError
from notifier.domain.notice import Notice
from tests.support.documents import pdf_text
from tests.support.fixtures import SmtpServer

pytestmark = pytest.mark.integration

NOTICE = Notice("799273987130", "https://lre.example/", date(2031, 3, 14))


def gateway(smtp: SmtpServer) -> EmailFaxGateway:
    mailer = SmtpMailer(smtp.host, smtp.port, "notifications@lre.example", False, None, None, 5.0)
    return EmailFaxGateway(mailer, "{number}@fax.gateway.example")


async def test_a_fax_is_a_pdf_with_a_cover_page_mailed_to_the_gateway_address(smtp: SmtpServer) -> None:
    number = "+33140000017"

    await gateway(smtp).deliver(NOTICE, number)

    received = await smtp.store.wait_for_async(lambda m: m["To"] == "33140000017@fax.gateway.example", 10)
    [attachment] = list(received.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "avis_799273987130.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF-") and len(PdfReader(io.BytesIO(pdf)).pages) == 2
    text = pdf_text(pdf)
    assert "799273987130" in text
    assert DEMO_SENDER.name not in text


async def test_a_fax_to_an_invalid_number_fails_for_good(smtp: SmtpServer) -> None:
    with pytest.raises(PermanentDeliveryError, match="invalid phone number"):
        await gateway(smtp).deliver(NOTICE, "01 40 00 00 17")
