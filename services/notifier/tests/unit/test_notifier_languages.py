"""Everything the notifier writes to a recipient exists in French and in English: the notice
and the reminder (email, SMS, voice, fax), the one-time code, and the confirmation of a
verification case listing the documents the sender's policy requires."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest

from lre_shared.contracts import DocumentChannel, NoticeKind, RequiredDocument, SendCaseConfirmation
from notifier.adapters.fax import fax_pages
from notifier.adapters.templates import render
from notifier.domain.code import code_text
from notifier.domain.confirmation import CaseConfirmation, confirmation_email, confirmation_sms
from notifier.domain.gsm7 import is_gsm7
from notifier.domain.notice import Notice, sms_text, voice_script
from notifier.service_layer.handlers import send_case_confirmation

from .fakes import FakeMailer, FakeTexts, InMemoryAttemptLog, InMemoryUnitOfWork

CNB = (
    RequiredDocument.identity_six_months,
    RequiredDocument.company_extract,
    RequiredDocument.bar_certificate,
)
NOTICE = Notice("799123456789", "https://lre.example/", date(2026, 3, 17), "en")
REMINDER = Notice(
    "799123456789",
    "https://lre.example/",
    date(2026, 3, 17),
    "en",
    NoticeKind.reminder,
    "https://n.example/x",
)


def test_the_english_notice_and_reminder_emails_are_english_throughout() -> None:
    notice, reminder = render(NOTICE), render(REMINDER)

    assert notice.subject == "A registered electronic letter awaits you"
    assert "Item number: 799123456789" in notice.text and "17/03/2026" in notice.text
    assert reminder.subject.startswith("Reminder:")
    assert "Stop reminders about this letter" in reminder.html
    for text in (notice.text, notice.html, reminder.text, reminder.html):
        assert "Numéro de pli" not in text and "Bonjour" not in text


def test_the_english_sms_voice_and_fax_notices_are_english() -> None:
    sms, voice, pages = sms_text(NOTICE), voice_script(NOTICE), fax_pages(NOTICE)

    assert sms.startswith("A registered electronic letter awaits you") and is_gsm7(sms)
    assert voice.language == "en-GB" and "item number" in voice.number_intro
    assert pages[0][0] == "Fax" and "Item number: 799123456789" in pages[0]
    assert pages[1][0] == "A registered electronic letter awaits you"


def test_the_code_exists_in_both_languages() -> None:
    expires = datetime(2026, 3, 16, 15, 30, tzinfo=UTC)

    french, english = code_text("48291307", expires, "fr"), code_text("48291307", expires, "en")

    assert french.text.startswith("Votre code de signature : 48291307")
    assert english.text.startswith("Your signing code: 48291307")
    assert english.subject == "Your signing code for a registered electronic letter"


def confirmation(
    language: str, channel: DocumentChannel = DocumentChannel.email, **fields: Any
) -> CaseConfirmation:
    values: dict[str, Any] = {
        "reference": "LRE-7K3M9Q",
        "document_channel": channel,
        "document_address": "identite@lre.example",
        "required_documents": CNB,
        "code_channel": "email",
        "language": language,
    }
    return CaseConfirmation(**(values | fields))


def test_the_english_confirmation_lists_the_cnb_documents_and_how_to_send_them() -> None:
    email = confirmation_email(confirmation("en"))

    assert email.subject == "Your signing code request LRE-7K3M9Q is recorded"
    assert "- an identity document valid for more than 6 more months" in email.text
    assert "- a company extract (Kbis) with a valid SIREN or SIRET number" in email.text
    assert "- this year's bar registration certificate" in email.text
    assert "Email them to identite@lre.example, with the reference LRE-7K3M9Q in the subject." in email.text
    assert "you will receive your signing code by email" in email.text


def test_the_french_confirmation_lists_the_default_policy_document() -> None:
    email = confirmation_email(
        confirmation(
            "fr",
            DocumentChannel.upload,
            document_address=None,
            required_documents=(RequiredDocument.identity,),
        )
    )

    assert email.subject == "Votre demande de code de signature LRE-7K3M9Q est enregistrée"
    assert "- une pièce d'identité en cours de validité (carte d'identité, passeport ou titre de séjour)" in (
        email.text
    )
    assert "Kbis" not in email.text
    assert "Déposez-les sur la page de votre courrier" in email.text


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("channel", list(DocumentChannel))
def test_the_confirmation_sms_keeps_to_gsm7_and_names_the_reference(
    language: str, channel: DocumentChannel
) -> None:
    text = confirmation_sms(confirmation(language, channel, document_address="+33100000002"))

    assert is_gsm7(text)
    assert "LRE-7K3M9Q" in text
    assert ("Kbis" in text) and ("bar registration" in text if language == "en" else "Ordre" in text)


async def test_a_confirmation_goes_by_the_channel_chosen_for_the_code() -> None:
    mailer, texts, attempts = FakeMailer(), FakeTexts(), InMemoryAttemptLog()
    command = SendCaseConfirmation(
        correlation_id=uuid4(),
        channel="sms",
        address="+33612345678",
        reference="LRE-7K3M9Q",
        document_channel=DocumentChannel.upload,
        required_documents=(RequiredDocument.identity,),
        language="en",
    )

    await send_case_confirmation(command, InMemoryUnitOfWork(), mailer=mailer, texts=texts, attempts=attempts)

    assert mailer.sent == []
    [(to, body)] = texts.sent
    assert to == "+33612345678"
    assert body.startswith("Signing code request LRE-7K3M9Q recorded. Needed: valid identity document")
    assert [(a.outcome, a.kind) for a in attempts.recorded] == [("sent", "confirmation")]
