"""Twilio's inbound-message webhook: identity documents sent by MMS to the desk's number.

The request is taken only with a valid X-Twilio-Signature (HMAC-SHA1 of our public URL and
the form, under the account's auth token); the media are then fetched with the account's
credentials. The answer is TwiML: Twilio texts the recipient back what was taken or why
not (type, size limit, a message naming several cases or holding a NUL), or that the
message awaits review. A message refused whole leaves nothing behind.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import aiohttp
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped]

from lre_shared.clock import Clock
from verification.adapters.media import MediaFetcher, TooLarge
from verification.service_layer.cases import (
    Attachment,
    InboundMessage,
    InboundOutcome,
    MessageRefused,
    receive,
)
from verification.service_layer.ports import DocumentVault, UnitsOfWork

log = logging.getLogger(__name__)
TWILIO_MMS_PATH = "/inbound/twilio/mms"
MAX_MEDIA = 10
# Media are named after Twilio's message id: only what such an id is made of (SM/MM + hex).
_NOT_IN_SID = re.compile(r"[^A-Za-z0-9]")


def reply_text(outcome: InboundOutcome, refused: list[str]) -> str:
    problems = [*refused, *outcome.refused]
    if outcome.case_id is None and outcome.triage_id is None:
        text = "Aucun document reçu."
    elif outcome.case_id is None:
        text = "Message reçu : il sera examiné (aucune référence de dossier LRE-… reconnue)."
    elif outcome.accepted:
        text = f"{len(outcome.accepted)} document(s) reçu(s) pour le dossier {outcome.reference}."
    else:
        text = f"Aucun document reçu pour le dossier {outcome.reference}."
    if problems:
        text += " Refusé : " + "; ".join(problems)
    return text


def mms_webhook(
    transactions: UnitsOfWork,
    vault: DocumentVault,
    fetcher: MediaFetcher | None,
    *,
    own_url: str,
    auth_token: str | None,
    max_bytes: int,
    clock: Clock,
) -> Callable[[Request], Awaitable[Response]]:
    validator = RequestValidator(auth_token) if auth_token else None

    async def inbound_mms(request: Request) -> Response:
        """Twilio inbound MMS webhook (X-Twilio-Signature checked)"""
        form = {key: str(value) for key, value in (await request.form()).items()}
        # Twilio signs the URL it called: ours as the public knows it, not as a proxy forwards it.
        url = own_url.rstrip("/") + TWILIO_MMS_PATH + (f"?{request.url.query}" if request.url.query else "")
        signature = request.headers.get("X-Twilio-Signature", "")
        if validator is None or fetcher is None or not validator.validate(url, form, signature):
            return PlainTextResponse("invalid signature", status_code=403)
        try:
            count = min(int(form.get("NumMedia", "0") or 0), MAX_MEDIA)
        except ValueError:
            return PlainTextResponse("NumMedia must be a whole number", status_code=400)
        attachments, refused = [], []
        sid = _NOT_IN_SID.sub("", form.get("MessageSid", ""))[:64] or "media"
        for index in range(count):
            media_url = form.get(f"MediaUrl{index}", "")
            name = f"mms-{sid}-{index}"
            try:
                attachments.append(Attachment(name, await fetcher.fetch(media_url, max_bytes)))
            except TooLarge as exc:
                refused.append(f"{name}: {exc} per document")
            except aiohttp.ClientError as exc:
                # Twilio retries a webhook that fails: let it, rather than lose the documents.
                log.warning("MMS media fetch failed: %r", exc)
                return PlainTextResponse("media unavailable, try again", status_code=503)
        message = InboundMessage(
            channel="mms",
            sender=form.get("From", ""),
            subject="",
            text=form.get("Body", ""),
            attachments=attachments,
        )
        twiml = MessagingResponse()
        try:
            outcome = await receive(transactions, vault, message, max_bytes=max_bytes, now=clock())
        except MessageRefused as exc:
            twiml.message(f"Message refusé, rien n'a été reçu : {exc.reason}")
        else:
            twiml.message(reply_text(outcome, refused))
        return Response(str(twiml), media_type="application/xml")

    return inbound_mms
