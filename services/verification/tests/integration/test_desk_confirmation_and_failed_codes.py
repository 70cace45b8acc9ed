"""The one-time-code path tells the recipient what is going on, on the real parts: opening a
case sends a confirmation (reference, how to send the documents, the documents the sender's
policy requires) by the channel chosen for the code, in the recipient's language; documents
by MMS or fax only where the desk has such a number; a code the notifier could not send
(`code.failed.v1`) is void, is not counted against new ones, and the next goes by the
channel the recipient picks."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from lre_shared.contracts import (
    CodeFailed,
    CodeRequested,
    DocumentChannel,
    LetterLanguageChanged,
    OpenVerificationCase,
    RequestCode,
    VerificationCaseOpened,
    now_utc,
)
from tests.support.bus import eventually, publish

from .conftest import MOBILE

pytestmark = pytest.mark.integration

IDENTITY = [
    {"kind": "identity", "document_type": "passport", "number": "19AB12345", "expiry_date": "2031-01-01"}
]


async def outbox(desk: Any, routing_key: str, letter_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await desk.pool.fetch("SELECT body FROM outbox WHERE routing_key = $1 ORDER BY id", routing_key)
    bodies = [json.loads(bytes(row["body"])) for row in rows]
    return [body for body in bodies if body["correlation_id"] == str(letter_id)]


async def open_in(
    desk: Any, letter: Any, language: str, channel: DocumentChannel = DocumentChannel.email
) -> VerificationCaseOpened:
    return await desk.ask(  # type: ignore[no-any-return]
        OpenVerificationCase(
            correlation_id=letter.correlation_id,
            item_number=letter.item_number,
            document_channel=channel,
            code_channel="email",
            code_address=str(letter.recipient.email),
            language=language,  # type: ignore[arg-type]
        ),
        VerificationCaseOpened,
    )


async def test_opening_a_case_confirms_it_with_the_documents_the_cnb_policy_requires(desk: Any) -> None:
    letter = await desk.deposit("cnb")

    opened = await open_in(desk, letter, "en")

    assert opened.required_documents == ("identity_six_months", "company_extract", "bar_certificate")
    [confirmation] = await outbox(desk, "send_case_confirmation.v1", letter.correlation_id)
    assert confirmation["reference"] == opened.reference
    assert (confirmation["channel"], confirmation["address"]) == ("email", str(letter.recipient.email))
    assert (confirmation["document_channel"], confirmation["document_address"]) == (
        "email",
        "identite@desk.example",
    )
    assert confirmation["required_documents"] == ["identity_six_months", "company_extract", "bar_certificate"]
    assert confirmation["language"] == "en"


async def test_the_default_policy_asks_one_identity_document_and_a_changed_choice_is_confirmed_again(
    desk: Any,
) -> None:
    letter = await desk.deposit()

    first = await open_in(desk, letter, "fr")
    again = await open_in(desk, letter, "fr")
    by_fax = await open_in(desk, letter, "fr", DocumentChannel.fax)

    assert first.required_documents == again.required_documents == ("identity",)
    sent = await outbox(desk, "send_case_confirmation.v1", letter.correlation_id)
    assert [(c["document_channel"], c["document_address"]) for c in sent] == [
        ("email", "identite@desk.example"),
        ("fax", "+33100000000"),
    ]
    assert by_fax.reference == first.reference


@pytest.mark.parametrize("channel", [DocumentChannel.mms, DocumentChannel.fax])
async def test_no_case_takes_documents_by_mms_or_fax_where_the_desk_has_no_such_number(
    start_desk: Any, channel: DocumentChannel
) -> None:
    async with start_desk(inbound_mms=None, inbound_fax=None) as desk:
        letter = await desk.deposit()
        opened = await open_in(desk, letter, "fr", channel)

        assert opened.case_id is None
        assert opened.reason == f"this desk takes no documents by {channel}"
        assert await outbox(desk, "send_case_confirmation.v1", letter.correlation_id) == []


async def approved_by_sms(desk: Any, files: Any) -> tuple[Any, uuid.UUID]:
    letter = await desk.deposit()
    case_id = await desk.open_with_document(letter, files.pdf)
    claimed = await desk.http.post("/desk/api/cases/claim", headers=desk.auth())
    path = f"/desk/api/cases/{claimed.json()['case']['case_id']}"
    await desk.http.put(path + "/checklist", json={"items": IDENTITY}, headers=desk.auth())
    decided = await desk.http.post(path + "/decision", json={"outcome": "approved"}, headers=desk.auth())
    assert decided.status_code == 200, decided.text
    return letter, case_id


async def test_a_code_that_could_not_be_sent_is_void_and_a_new_one_goes_by_the_channel_chosen(
    desk: Any, files: Any
) -> None:
    letter, case_id = await approved_by_sms(desk, files)
    [sms_code] = await outbox(desk, "send_code.v1", letter.correlation_id)
    assert (sms_code["channel"], sms_code["address"]) == ("sms", MOBILE)

    await publish(
        desk.amqp_url,
        CodeFailed(
            correlation_id=letter.correlation_id,
            code_id=uuid.UUID(sms_code["message_id"]),
            channel="sms",
            reason="the sms channel is not configured",
        ),
    )

    async def void() -> bool:
        row = await desk.pool.fetchrow(
            "SELECT send_failed_at, invalidated_at FROM codes WHERE letter_id = $1", letter.correlation_id
        )
        return row["send_failed_at"] is not None and row["invalidated_at"] is not None

    await eventually(void)
    # At once, though codes are at least a minute apart: the failed one reached nobody.
    requested = await desk.ask(
        RequestCode(correlation_id=letter.correlation_id, channel="email"), CodeRequested
    )

    assert requested.issued, requested.reason
    codes = await outbox(desk, "send_code.v1", letter.correlation_id)
    assert [(c["channel"], c["address"]) for c in codes] == [
        ("sms", MOBILE),
        ("email", str(letter.recipient.email)),
    ]
    case = await desk.pool.fetchrow(
        "SELECT code_channel, code_address FROM cases WHERE case_id = $1", case_id
    )
    assert (case["code_channel"], case["code_address"]) == ("email", str(letter.recipient.email))


async def test_new_codes_go_in_the_language_the_recipient_last_chose(desk: Any, files: Any) -> None:
    letter, _ = await approved_by_sms(desk, files)
    await publish(
        desk.amqp_url,
        LetterLanguageChanged(
            correlation_id=letter.correlation_id,
            item_number=letter.item_number,
            language="en",
            changed_at=now_utc(),
        ),
    )

    async def english() -> bool:
        found = await desk.pool.fetchval(
            "SELECT language FROM cases WHERE letter_id = $1", letter.correlation_id
        )
        return bool(found == "en")

    await eventually(english)
    desk.clock.advance(timedelta(minutes=2))
    requested = await desk.ask(RequestCode(correlation_id=letter.correlation_id), CodeRequested)

    assert requested.issued, requested.reason
    codes = await outbox(desk, "send_code.v1", letter.correlation_id)
    assert [c["language"] for c in codes] == ["fr", "en"]
