"""SMS and voice through the twilio library against Twilio's own OpenAPI description,
served by Prism with `--errors` (an invalid request gets a 422), and the provider status
callback, accepted only with a valid X-Twilio-Signature."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from deploy.local.mailcatcher import free_port
from lre_shared import db
from notifier.adapters.telephony import RebasedHttpClient, TwilioAccount, TwilioSms, TwilioVoice
from notifier.bootstrap import MIGRATIONS
from notifier.domain.delivery import PermanentDeliveryError, TransientDeliveryError
from notifier.domain.notice import Notice
from notifier.entrypoints.web import TWILIO_STATUS_PATH, create_site

pytestmark = pytest.mark.integration

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token"
FROM = "+33700000001"
TO = "+33612345678"
CALLBACK = "https://notifier.lre.example" + TWILIO_STATUS_PATH
NOTICE = Notice("799273987130", "https://lre.example/", date(2031, 3, 14))


def account(base_url: str, **fields: Any) -> TwilioAccount:
    values: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM,
        "base_url": base_url,
        "status_callback": CALLBACK,
    }
    return TwilioAccount(**(values | fields))


@pytest.fixture
async def twilio(prism_url: str) -> AsyncIterator[TwilioAccount]:
    provider = account(prism_url)
    yield provider
    await provider.close()


def last_request(provider: TwilioAccount) -> Any:
    return provider.client.http_client._test_only_last_request


async def test_an_sms_request_is_valid_for_twilios_description(twilio: TwilioAccount) -> None:
    sid = await TwilioSms(twilio).deliver(NOTICE, TO)

    assert sid.startswith("SM")
    request = last_request(twilio)
    assert request.url.endswith(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    assert request.data["To"] == TO
    assert request.data["From"] == FROM
    assert request.data["StatusCallback"] == CALLBACK
    assert "799273987130" in request.data["Body"]


async def test_a_call_request_is_valid_and_its_twiml_reads_the_number_twice_in_french(
    twilio: TwilioAccount,
) -> None:
    sid = await TwilioVoice(twilio).deliver(NOTICE, TO)

    assert sid.startswith("CA")
    request = last_request(twilio)
    assert request.url.endswith(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")
    root = ET.fromstring(request.data["Twiml"])  # noqa: S314 - our own TwiML
    says = [say.text or "" for say in root.iter("Say")]
    assert all(say.get("language") == "fr-FR" for say in root.iter("Say"))
    assert says.count("7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3, 0") == 2


async def test_a_request_prism_finds_invalid_fails_for_good_with_the_422(prism_url: str) -> None:
    provider = account(prism_url, account_sid="not-an-account-sid")
    try:
        with pytest.raises(PermanentDeliveryError, match="422"):
            await TwilioSms(provider).deliver(NOTICE, TO)
    finally:
        await provider.close()


async def test_an_invalid_number_fails_for_good_before_any_request(twilio: TwilioAccount) -> None:
    with pytest.raises(PermanentDeliveryError, match="invalid phone number"):
        await TwilioSms(twilio).deliver(NOTICE, "06 12 34 56 78")

    assert last_request(twilio) is None


class CannedHttpClient(RebasedHttpClient):
    """Answers every request with one status and Twilio's error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(None, 5.0)
        self.status, self.code, self.message = status, code, message

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        body = f'{{"code": {self.code}, "message": "{self.message}", "status": {self.status}}}'
        return Response(self.status, body)


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, 21211, PermanentDeliveryError),  # invalid 'To' number
        (401, 20003, PermanentDeliveryError),  # bad credentials
        (429, 20429, TransientDeliveryError),
        (500, 20500, TransientDeliveryError),
        (503, 20503, TransientDeliveryError),
    ],
)
async def test_provider_4xx_are_permanent_and_5xx_transient(
    status: int, code: int, error: type[Exception]
) -> None:
    provider = account("http://unused", http_client=CannedHttpClient(status, code, "provider says no"))

    with pytest.raises(error, match=f"Twilio HTTP {status}: {code} .*provider says no"):
        await TwilioSms(provider).deliver(NOTICE, TO)


async def test_an_unreachable_provider_is_transient() -> None:
    provider = account(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(TransientDeliveryError, match="Twilio SMS"):
            await TwilioSms(provider).deliver(NOTICE, TO)
    finally:
        await provider.close()


# --------------------------------------------------------------------- status callback

OWN_URL = "https://notifier.lre.example"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(database_url, MIGRATIONS)
    connections = await db.create_pool(database_url, 2)
    yield connections
    await connections.close()


async def post_status(pool: asyncpg.Pool, form: dict[str, str], signature: str) -> httpx.Response:
    site = create_site(lambda: pool, own_url=OWN_URL, twilio_auth_token=AUTH_TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=site), base_url=OWN_URL) as client:
        return await client.post(
            TWILIO_STATUS_PATH,
            content=urlencode(form),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        )


async def a_sent_sms(pool: asyncpg.Pool) -> tuple[uuid.UUID, str]:
    notice_id, sid = uuid.uuid4(), "SM" + uuid.uuid4().hex
    await pool.execute(
        "INSERT INTO delivery_attempts (notice_id, letter_id, channel, address, outcome, provider_message_id)"
        " VALUES ($1, $2, 'sms', $3, 'sent', $4)",
        notice_id,
        uuid.uuid4(),
        TO,
        sid,
    )
    return notice_id, sid


async def test_a_status_callback_with_a_wrong_signature_is_refused(pool: asyncpg.Pool) -> None:
    _, sid = await a_sent_sms(pool)
    form = {"MessageSid": sid, "MessageStatus": "delivered"}
    forged = RequestValidator("another-token").compute_signature(OWN_URL + TWILIO_STATUS_PATH, form)

    response = await post_status(pool, form, forged)

    assert response.status_code == 403
    assert await pool.fetchval("SELECT count(*) FROM delivery_attempts WHERE outcome = 'delivered'") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_signed_delivered_callback_records_it_and_publishes_notice_delivered(
    pool: asyncpg.Pool,
) -> None:
    notice_id, sid = await a_sent_sms(pool)
    form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(OWN_URL + TWILIO_STATUS_PATH, form)

    response = await post_status(pool, form, signature)

    assert response.status_code == 200
    row = await pool.fetchrow("SELECT notice_id, reason FROM delivery_attempts WHERE outcome = 'delivered'")
    assert (row["notice_id"], row["reason"]) == (notice_id, "delivered")
    [queued] = await pool.fetch("SELECT routing_key, body FROM outbox")
    assert queued["routing_key"] == "notice.delivered.v1"
    assert str(notice_id) in bytes(queued["body"]).decode()


async def test_a_signed_undelivered_callback_is_kept_as_a_failed_attempt(pool: asyncpg.Pool) -> None:
    _, sid = await a_sent_sms(pool)
    form = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(OWN_URL + TWILIO_STATUS_PATH, form)

    response = await post_status(pool, form, signature)

    assert response.status_code == 200
    reason = await pool.fetchval("SELECT reason FROM delivery_attempts WHERE outcome = 'failed'")
    assert reason == "provider status undelivered 30003"
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
