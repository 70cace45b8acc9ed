"""The recipient's language and the one-time-code path as the site shows them, on the real
parts (the desk's answers given by a responder on the bus): a letter deposited in English is
noticed in English and shown in English once identified; a switch on the letter's pages is
recorded for the letter and announced; documents go only by the channels configured; the
documents the policy requires are listed; a code that could not be sent is said so, with the
recipient's other channel offered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from deploy.local.demo import DEMO_RECIPIENT
from lre_shared.contracts import (
    CodeFailed,
    LetterLanguageChanged,
    OpenVerificationCase,
    RequestCode,
    RequiredDocument,
    SendNotice,
    VerificationCaseOpened,
)
from services.pickup.tests.integration.recipients import (
    Pickup,
    accepted,
    answering,
    csrf,
    deposit,
    deposited,
    error_of,
    identified,
    started_pickup,
    switch_language,
    wait_for_row,
)
from services.pickup.tests.integration.test_pickup_one_time_code import (
    AtTheDesk,
    Desk,
    ask_for_code,
    decided,
)
from tests.support.bus import Probe, publish

pytestmark = pytest.mark.integration

ENGLISH = DEMO_RECIPIENT.model_copy(update={"language": "en", "mobile": "+33612345678"})


class CnbDesk(Desk):
    def open(self, query: object) -> VerificationCaseOpened:
        opened = super().open(query)  # type: ignore[arg-type]
        required = (
            RequiredDocument.identity_six_months,
            RequiredDocument.company_extract,
            RequiredDocument.bar_certificate,
        )
        return opened.model_copy(update={"required_documents": required})


@pytest.fixture
async def desk(pickup: Pickup) -> AsyncIterator[AtTheDesk]:
    verification = CnbDesk()
    async with answering(pickup.amqp_url, verification.answers()) as asked:
        yield AtTheDesk(verification, asked)


async def test_a_letter_deposited_in_english_is_noticed_and_shown_in_english(
    pickup: Pickup, probe: Probe
) -> None:
    event = await deposit(pickup.amqp_url, pickup, deposited(recipient=ENGLISH))

    notice = SendNotice.model_validate_json(
        (await probe.wait_for(SendNotice.routing_key, event.correlation_id)).body
    )
    async with pickup.browser() as site:
        decision = await identified(site, event.item_number)

    assert notice.language == "en"
    assert '<html lang="en">' in decision.text
    assert "<h1>Receiving the letter</h1>" in decision.text


async def test_a_switch_on_the_letters_pages_is_recorded_for_the_letter_and_announced(
    pickup: Pickup, probe: Probe
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        await switch_language(site, await site.get("/"), "en")  # not yet on a letter's pages
        decision = await identified(site, event.item_number)
        assert (
            await pickup.runtime.pool.fetchval(
                "SELECT language FROM letters WHERE letter_id = $1", event.correlation_id
            )
            == "fr"
        )
        await switch_language(site, decision, "fr")
        await switch_language(site, decision, "en")

    await wait_for_row(pickup, f"letter_id = '{event.correlation_id}' AND language = 'en'")
    changed = await probe.wait_for(LetterLanguageChanged.routing_key, event.correlation_id)
    assert LetterLanguageChanged.model_validate_json(changed.body).language == "en"
    assert (
        len(probe.of(LetterLanguageChanged.routing_key, event.correlation_id)) == 1
    )  # fr→fr changed nothing


async def test_documents_and_codes_are_offered_only_by_the_channels_configured(
    amqp_url: str, database_url: str, probe: Probe
) -> None:
    async with started_pickup(
        amqp_url, database_url, document_channels=("upload", "email"), sms_codes=False
    ) as pickup:
        verification = Desk()
        async with answering(amqp_url, verification.answers()) as asked, pickup.browser() as site:
            event = await deposit(amqp_url, pickup, deposited(recipient=ENGLISH))
            await accepted(site, event.item_number)
            page = await site.get("/signature/code")
            by_mms = await ask_for_code(site, "mms")
            by_sms = await ask_for_code(site, "email", "sms")

    assert 'value="upload"' in page.text and 'value="email"' in page.text
    assert 'value="mms"' not in page.text and 'value="fax"' not in page.text
    assert 'value="sms"' not in page.text
    assert by_mms.status_code == 422
    assert error_of(by_mms, "document_channel") == "Choose how to send your proof of identity."
    assert by_sms.status_code == 422
    assert asked.of(OpenVerificationCase) == []


async def test_the_documents_the_policy_requires_are_listed_where_the_recipient_sends_them(
    pickup: Pickup, desk: AtTheDesk
) -> None:
    event = await deposit(pickup.amqp_url, pickup, deposited(recipient=ENGLISH))
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        await ask_for_code(site, "upload")
        upload = await site.get("/signature/code/justificatifs")
        await switch_language(site, upload, "fr")
        await ask_for_code(site, "email")
        waiting = await site.get("/signature/code/attente")

    for line in (
        "an identity document valid for more than 6 more months",
        "a company extract (Kbis) with a valid SIREN or SIRET number",
        "this year&#39;s bar registration certificate",
    ):
        assert line in upload.text
    assert "Pièces à fournir" in waiting.text
    assert "l&#39;attestation d&#39;inscription à l&#39;Ordre de l&#39;année en cours" in waiting.text
    assert "Une confirmation de votre demande vous a été envoyée par e-mail." in waiting.text


async def test_a_code_that_could_not_be_sent_is_said_so_with_the_other_channel_offered(
    pickup: Pickup, desk: AtTheDesk
) -> None:
    event = await deposit(pickup.amqp_url, pickup, deposited(recipient=ENGLISH))
    async with pickup.browser() as site:
        await accepted(site, event.item_number)
        await ask_for_code(site, "upload", "sms")
        await decided(pickup, event.correlation_id, desk.desk.case_id, "approved")
        await publish(
            pickup.amqp_url,
            CodeFailed(
                correlation_id=event.correlation_id,
                code_id=uuid.uuid4(),
                channel="sms",
                reason="Twilio 400 21614 not a mobile number",
            ),
        )
        await wait_for_row(
            pickup, f"letter_id = '{event.correlation_id}' AND code_failure IS NOT NULL", "verification_cases"
        )
        page = await site.get("/signature/code/saisie")
        resent = await site.post(
            "/signature/code/nouveau", data={"csrf_token": csrf(page), "channel": "email"}
        )
        after = await site.get("/signature/code/saisie")

    assert "Your signing code could not be sent to you by text message." in page.text
    assert page.text.index('value="email"') < page.text.index('value="sms"')  # the other one first
    assert "Get a code by email, at ca" in page.text
    assert "A new code has been sent to you." in resent.text
    assert [q.channel for q in desk.asked.of(RequestCode)] == ["email"]
    assert "could not be sent" not in after.text
