"""SMS and voice calls through Twilio's async client.

The HTTP layer is Twilio's own `AsyncTwilioHttpClient`, with its base URL replaceable so
tests (and a regional edge) can point it elsewhere: the contract tests point it at
Twilio's OpenAPI description served by Prism.

Twilio's Messages and Calls resources take no idempotency key (in its API description,
`IdempotencyKey` exists for call payments and user-defined messages only): a notice resent
after a crash between Twilio's answer and our record of it is a second SMS or call. The
handler's `sending` mark makes that a single, logged resend (docs/OPERATIONS.md).

Classification: an invalid number is refused before any request; provider 4xx are
permanent (the request is wrong, the number cannot receive), 429 and 5xx transient, as
are timeouts and network errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import aiohttp
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from notifier.domain.delivery import PermanentDeliveryError, TransientDeliveryError, http_status_error
from notifier.domain.notice import Notice, sms_text, voice_script

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
TWILIO_API = re.compile(r"^https://[^/]+")


class RebasedHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Twilio's async HTTP client, sending to `base_url` instead of https://api.twilio.com."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url:
            url = TWILIO_API.sub(self.base_url, url)
        response: Response = await super().request(method, url, *args, **kwargs)
        return response


@dataclass
class TwilioAccount:
    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str
    base_url: str | None = None
    status_callback: str | None = None
    timeout: float = 15.0
    http_client: Any = field(default=None, repr=False)  # an AsyncHttpClient; Twilio's by default
    _client: Client | None = field(default=None, init=False, repr=False)

    @property
    def client(self) -> Client:
        # Built on first use, inside the running event loop that owns its HTTP session.
        if self._client is None:
            self._client = Client(
                self.account_sid,
                self.auth_token,
                http_client=self.http_client or RebasedHttpClient(self.base_url, self.timeout),
            )
        return self._client

    async def create(self, what: str, resource: Literal["messages", "calls"], to: str, **fields: Any) -> str:
        """Ask Twilio for a message or a call to `to`, with our status callback if we have one;
        the provider's id for it."""
        number = check_number(to)
        if self.status_callback:
            fields["status_callback"] = self.status_callback
        created = getattr(self.client, resource).create_async(to=number, from_=self.from_number, **fields)
        return await _call_provider(what, created)

    async def close(self) -> None:
        if self._client is not None:
            http = self._client.http_client
            if isinstance(http, AsyncTwilioHttpClient):
                await http.close()
            self._client = None


def check_number(number: str) -> str:
    if not E164.fullmatch(number):
        raise PermanentDeliveryError(f"invalid phone number {number!r}: expected E.164, e.g. +33612345678")
    return number


async def _call_provider(what: str, request: Any) -> str:
    try:
        instance = await request
    except TwilioRestException as exc:
        raise http_status_error("Twilio", exc.status, f"{exc.code or ''} {exc.msg}".strip()) from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise TransientDeliveryError(f"Twilio {what}: {exc!r}") from exc
    sid = getattr(instance, "sid", None)
    return str(sid) if sid else ""


@dataclass(frozen=True)
class TwilioSms:
    account: TwilioAccount

    async def deliver(self, notice: Notice, address: str, key: UUID | None = None) -> str:
        return await self.send_text(address, sms_text(notice))

    async def send_text(self, to: str, body: str) -> str:
        return await self.account.create("SMS", "messages", to, body=body)


def voice_twiml(notice: Notice) -> str:
    """The call: a letter waits; the item number digit by digit, twice; the site."""
    script = voice_script(notice)
    response = VoiceResponse()
    response.say(script.opening, language=script.language)
    for intro in (script.number_intro, script.repeat_intro):
        response.say(intro, language=script.language)
        response.say(script.digits, language=script.language)
        response.pause(length=1)
    response.say(script.closing, language=script.language)
    return str(response)


@dataclass(frozen=True)
class TwilioVoice:
    account: TwilioAccount

    async def deliver(self, notice: Notice, address: str, key: UUID | None = None) -> str:
        return await self.account.create("call", "calls", address, twiml=voice_twiml(notice))
