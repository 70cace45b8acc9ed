"""The notifier's HTTP routes: provider status callbacks and the reminder opt-out link."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from notifier.adapters.postgres import transaction
from notifier.service_layer import provider_status, reminders

TWILIO_STATUS_PATH = "/providers/twilio/status"

CONFIRM = (
    '<!doctype html><html lang="fr"><body><form method="post">'
    "<p>Ne plus recevoir de rappels pour ce pli ?</p>"
    '<button type="submit">Confirmer / Confirm</button></form>'
    '<p lang="en">Stop reminders about this letter?</p></body></html>'
)
OPTED_OUT = (
    '<!doctype html><html lang="fr"><body><p>Vous ne recevrez plus de rappels pour ce pli.</p>'
    '<p lang="en">You will receive no more reminders about this letter.</p></body></html>'
)


def create_site(
    pool: Callable[[], asyncpg.Pool], *, own_url: str, twilio_auth_token: str | None
) -> Starlette:
    validator = RequestValidator(twilio_auth_token) if twilio_auth_token else None

    async def twilio_status(request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        # Twilio signs the URL it called: ours as the public knows it, not as the proxy forwards it.
        url = own_url + TWILIO_STATUS_PATH + (f"?{request.url.query}" if request.url.query else "")
        if validator is None or not validator.validate(url, form, signature):
            return PlainTextResponse("invalid signature", status_code=403)
        sid = form.get("MessageSid") or form.get("CallSid") or ""
        status = form.get("MessageStatus") or form.get("CallStatus") or ""
        async with transaction(pool()) as uow:
            known = await provider_status.report(uow, sid, status, form.get("ErrorCode", ""))
        return PlainTextResponse("ok" if known else "unknown sid")

    async def opt_out(request: Request) -> Response:
        token = request.path_params["token"]
        async with transaction(pool()) as uow:
            if request.method == "GET":
                # A GET only asks: mail scanners fetch every link of a message, and must not
                # opt the recipient out. The form (or RFC 8058 one-click) POSTs.
                found = await reminders.known(uow, token)
                page = CONFIRM
            else:
                found = await reminders.opt_out(uow, token)
                page = OPTED_OUT
        if not found:
            return PlainTextResponse("unknown link", status_code=404)
        return HTMLResponse(page)

    return Starlette(
        routes=[
            Route(TWILIO_STATUS_PATH, twilio_status, methods=["POST"]),
            Route(reminders.OPT_OUT_PATH + "{token}", opt_out, methods=["GET", "POST"]),
        ]
    )
