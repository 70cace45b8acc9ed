"""Signing the acknowledgement of receipt (avis de réception, AR; DESIGN §2 step 5).

Only the methods the sender allowed for the letter are offered (`LetterDeposited.
signature_methods`). With a personal certificate the recipient downloads the AR the signer
issued, signs it and uploads it; the signer checks it. With a one-time code the recipient
sends identity documents to the verification desk, which decides and sends the code to the
email address or mobile number the sender declared (never one typed here); the desk checks
the code typed on the signing page. Either way, once accepted, pickup records the signature
and publishes `ReceiptSigned` in the same transaction (outbox).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lre_shared import metrics, uploads
from lre_shared.messages import (
    AddIdentityDocument,
    CaseState,
    CheckCode,
    CheckSignedReceipt,
    CodeChecked,
    CodeProblem,
    CodeRequested,
    DocumentChannel,
    IdentityDocumentAdded,
    IssueReceiptForm,
    LockKind,
    OpenVerificationCase,
    ReceiptFormIssued,
    RequestCode,
    SignatureMethod,
    SignedReceiptChecked,
    VerificationCaseOpened,
)
from pickup.entrypoints import receipt_verdict
from pickup.entrypoints.pages import Site, field, format_size, step_of, too_large, upload
from pickup.service_layer import locks, signature
from pickup.service_layer.handlers import LetterView
from pickup.service_layer.limits import Guess
from pickup.service_layer.signature import Case

CodeChannel = Literal["email", "sms"]
# Where the desk still works on the case: the recipient waits.
WAITING = (CaseState.awaiting_documents, CaseState.pending, CaseState.in_review, CaseState.more_documents)


def code_channels(letter: LetterView, sms: bool = True) -> dict[CodeChannel, str]:
    """Where a code may go: the declared email, and the declared mobile when there is one and
    codes may go by SMS (`sms`: the notifier can send them)."""
    channels: dict[CodeChannel, str] = {"email": str(letter.recipient["email"])}
    if sms and letter.recipient.get("mobile"):
        channels["sms"] = str(letter.recipient["mobile"])
    return channels


def masked(address: str) -> str:
    """Enough of an address for the recipient to recognise it."""
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:2]}{'•' * max(len(name) - 2, 1)}@{domain}"
    return f"{address[:3]}{'•' * max(len(address) - 5, 1)}{address[-2:]}"


def routes(site: Site) -> list[BaseRoute]:
    async def signing_letter(request: Request) -> LetterView | Response:
        """The identified letter when it waits for its AR to be signed, else where to go."""
        letter = await site.identified_letter(request)
        if letter is None:
            return RedirectResponse("/", 303)
        if step_of(letter) != "/signature":
            return RedirectResponse(step_of(letter), 303)
        return letter

    def allowed(letter: LetterView, method: SignatureMethod) -> bool:
        return method in letter.signature_methods

    def channels_for(letter: LetterView) -> dict[CodeChannel, str]:
        return code_channels(letter, site.settings.sms_codes)

    # ---------------------------------------------------------------- method choice

    async def choice_page(request: Request) -> Response:
        letter = await signing_letter(request)
        if isinstance(letter, Response):
            return letter
        case = await signature.find_case(site.runtime.pool, letter.letter_id)
        if case is not None and request.query_params.get("choisir") is None:
            if case.state is CaseState.approved:
                return RedirectResponse("/signature/code/saisie", 303)
            if case.state in WAITING:
                return RedirectResponse("/signature/code/attente", 303)
        return site.render(
            request,
            "signature.html",
            certificate=allowed(letter, SignatureMethod.certificate),
            code=allowed(letter, SignatureMethod.one_time_code),
        )

    # ------------------------------------------------------------------ certificate

    def certificate_form(request: Request, status: int = 200, **context: object) -> Response:
        return site.render(
            request, "certificate.html", status, max_bytes=site.settings.max_receipt_bytes, **context
        )

    async def certificate_page(request: Request) -> Response:
        letter = await signing_letter(request)
        if isinstance(letter, Response):
            return letter
        if not allowed(letter, SignatureMethod.certificate):
            return RedirectResponse("/signature", 303)
        if request.method == "GET":
            return certificate_form(request)
        if too_large(request, site.settings.max_receipt_bytes):
            size = site.settings.max_receipt_bytes
            return certificate_form(
                request,
                413,
                errors={"receipt": site.t(request, "cert.too_big", size=format_bytes(site, request, size))},
            )
        form = await site.form_of(request)
        if form is None:
            return site.forbidden(request)
        uploaded = upload(form, "receipt")
        if uploaded is None:
            return certificate_form(request, 422, errors={"receipt": site.t(request, "cert.missing")})
        pdf = await uploaded.read(site.settings.max_receipt_bytes + 1)
        if len(pdf) > site.settings.max_receipt_bytes:
            size = site.settings.max_receipt_bytes
            return certificate_form(
                request,
                413,
                errors={"receipt": site.t(request, "cert.too_big", size=format_bytes(site, request, size))},
            )
        judged = uploads.inspect_document(pdf, (uploads.PDF,))
        if isinstance(judged, uploads.Refused):
            if judged.flaw is uploads.Flaw.not_accepted:
                return certificate_form(request, 422, errors={"receipt": site.t(request, "cert.not_pdf")})
            refused = site.t(request, "cert.refused", reason=refusal(site, request, judged))
            return certificate_form(request, 422, errors={"receipt": refused})
        checked = await site.ask(
            CheckSignedReceipt(correlation_id=letter.letter_id, pdf=pdf), SignedReceiptChecked
        )
        if not checked.accepted:
            message, detail = receipt_verdict.explain(site, request, checked, letter.recipient_name)
            return certificate_form(request, 422, errors={"receipt": message}, detail=detail)
        await signature.record_signature(
            site.runtime.pool,
            letter.letter_id,
            SignatureMethod.certificate,
            checked.signer_name or letter.recipient_name,
            receipt_sha256=hashlib.sha256(pdf).hexdigest(),
            now=site.clock(),
        )
        metrics.pickup_step("signed")
        return RedirectResponse("/courrier", 303)

    async def receipt_form(request: Request) -> Response:
        letter = await signing_letter(request)
        if isinstance(letter, Response):
            return letter
        if not allowed(letter, SignatureMethod.certificate):
            return RedirectResponse("/signature", 303)
        issued = await site.ask(IssueReceiptForm(correlation_id=letter.letter_id), ReceiptFormIssued)
        if not issued.pdf:
            # The signer draws the AR from its record of the acceptance, which reaches it by
            # the bus a moment after this site recorded the decision.
            site.catching_up(letter.decided_at, f"receipt form: {issued.reason}")
            return site.problem(request, site.t(request, "cert.form_unavailable", reason=issued.reason or ""))
        filename = issued.filename or f"ar_{letter.item_number}.pdf"
        return Response(
            issued.pdf,
            media_type="application/pdf",
            headers={"content-disposition": f'attachment; filename="{ascii_filename(filename)}"'},
        )

    # ------------------------------------------------------------- one-time code

    async def code_request_page(request: Request) -> Response:
        letter = await signing_letter(request)
        if isinstance(letter, Response):
            return letter
        if not allowed(letter, SignatureMethod.one_time_code):
            return RedirectResponse("/signature", 303)
        channels = channels_for(letter)
        choices = {name: masked(address) for name, address in channels.items()}
        # Only the ways the desk takes documents and the notifier sends codes are offered.
        offered = [str(channel) for channel in site.settings.document_channels]
        if request.method == "GET":
            return site.render(
                request, "code_request.html", code_channels=choices, document_channels=offered, values={}
            )
        form = await site.form_of(request)
        if form is None:
            return site.forbidden(request)
        document_channel = field(form, "document_channel")
        code_channel = field(form, "code_channel")
        errors = {}
        if document_channel not in offered:
            errors["document_channel"] = site.t(request, "code.pick_document_channel")
        if code_channel not in channels:
            errors["code_channel"] = site.t(request, "code.pick_code_channel")
        if errors:
            values = {"document_channel": document_channel, "code_channel": code_channel}
            return site.render(
                request,
                "code_request.html",
                422,
                code_channels=choices,
                document_channels=offered,
                values=values,
                errors=errors,
            )
        chosen: CodeChannel = "sms" if code_channel == "sms" else "email"
        opened = await site.ask(
            OpenVerificationCase(
                correlation_id=letter.letter_id,
                item_number=letter.item_number,
                document_channel=DocumentChannel(document_channel),
                code_channel=chosen,
                code_address=channels[chosen],
                language=site.language(request),
            ),
            VerificationCaseOpened,
        )
        if opened.case_id is None:
            return site.problem(request, site.t(request, "code.not_opened", reason=opened.reason or ""))
        await signature.case_opened(
            site.runtime.pool, letter.letter_id, opened, DocumentChannel(document_channel), chosen
        )
        if document_channel == DocumentChannel.upload:
            return RedirectResponse("/signature/code/justificatifs", 303)
        return RedirectResponse("/signature/code/attente", 303)

    async def case_of(request: Request) -> tuple[LetterView, Case] | Response:
        letter = await signing_letter(request)
        if isinstance(letter, Response):
            return letter
        case = await signature.find_case(site.runtime.pool, letter.letter_id)
        if case is None:
            return RedirectResponse("/signature/code", 303)
        return letter, case

    def document_limit(case: Case) -> int:
        stated = case.max_document_bytes or site.settings.max_identity_document_bytes
        return min(stated, site.settings.max_identity_document_bytes)

    def documents_form(request: Request, case: Case, status: int = 200, **context: object) -> Response:
        return site.render(
            request, "documents.html", status, case=case, max_bytes=document_limit(case), **context
        )

    async def documents_page(request: Request) -> Response:
        found = await case_of(request)
        if isinstance(found, Response):
            return found
        letter, case = found
        if case.state not in WAITING:
            return RedirectResponse("/signature/code/attente", 303)
        if request.method == "GET":
            return documents_form(request, case)
        limit = document_limit(case)
        big = {"document": site.t(request, "docs.too_big", size=format_bytes(site, request, limit))}
        if too_large(request, limit):
            return documents_form(request, case, 413, errors=big)
        form = await site.form_of(request)
        if form is None:
            return site.forbidden(request)
        uploaded = upload(form, "document")
        if uploaded is None:
            return documents_form(request, case, 422, errors={"document": site.t(request, "docs.missing")})
        content = await uploaded.read(limit + 1)
        if len(content) > limit:
            return documents_form(request, case, 413, errors=big)
        # The desk inspects it too (documents reach it by mail and MMS as well); judged here
        # first, the refusal is in the page's language and nothing goes to the desk.
        judged = uploads.inspect_document(content)
        if isinstance(judged, uploads.Refused):
            refused = site.t(request, "docs.refused", reason=refusal(site, request, judged))
            return documents_form(request, case, 422, errors={"document": refused})
        added = await site.ask(
            AddIdentityDocument(
                correlation_id=letter.letter_id,
                case_id=case.case_id,
                filename=(uploaded.filename or "justificatif")[-200:],
                content=content,
            ),
            IdentityDocumentAdded,
        )
        if not added.accepted:
            refused = site.t(request, "docs.refused", reason=added.reason or "")
            return documents_form(request, case, 422, errors={"document": refused})
        await signature.document_added(site.runtime.pool, letter.letter_id, added.state)
        return RedirectResponse("/signature/code/attente", 303)

    async def waiting_page(request: Request) -> Response:
        found = await case_of(request)
        if isinstance(found, Response):
            return found
        letter, case = found
        if case.state is CaseState.approved:
            return RedirectResponse("/signature/code/saisie", 303)
        if case.state is CaseState.rejected:
            return site.render(
                request,
                "verification_rejected.html",
                case=case,
                certificate=allowed(letter, SignatureMethod.certificate),
            )
        return site.render(
            request,
            "waiting.html",
            case=case,
            certificate=allowed(letter, SignatureMethod.certificate),
            refresh_seconds=site.settings.waiting_refresh_seconds,
        )

    async def case_state(request: Request) -> Response:
        """For the waiting page's script: the case's state, so it reloads only on a change."""
        found = await case_of(request)
        if isinstance(found, Response):
            return JSONResponse({"state": None, "next": "/signature"})
        _, case = found
        return JSONResponse({"state": str(case.state)})

    # ------------------------------------------------------------------ code entry

    async def code_form(request: Request, status: int = 200, **context: object) -> Response:
        """The code entry page; when the last code could not be sent, it says so and offers the
        recipient's channels to send a new one, the failed one last."""
        letter = await site.identified_letter(request)
        case = await signature.find_case(site.runtime.pool, letter.letter_id) if letter else None
        resend: list[tuple[str, str]] = []
        failed_by = None
        if letter is not None and case is not None and case.code_failure:
            channels = channels_for(letter)
            failed = case.code_failed_channel
            order = sorted(channels, key=lambda name: name == failed)
            resend = [(name, masked(channels[name])) for name in order]
            failed_by = site.t(request, "wait.by_sms" if failed == "sms" else "wait.by_email")
        return site.render(request, "code_entry.html", status, resend=resend, failed_by=failed_by, **context)

    async def code_entry_page(request: Request) -> Response:
        found = await case_of(request)
        if isinstance(found, Response):
            return found
        letter, case = found
        if case.state is not CaseState.approved:
            return RedirectResponse("/signature/code/attente", 303)
        if held := site.held(request, letter, LockKind.code):
            return held
        if request.method == "GET":
            if case.code_failure:
                return await code_form(request)
            return await code_form(request, notice=site.t(request, "enter.approved"))
        form = await site.form_of(request)
        if form is None:
            return site.forbidden(request)
        if locked := await site.address_locked(request, Guess.code):
            return locked
        typed = field(form, "code")[:32]
        if not typed:
            return await code_form(request, 422, errors={"code": site.t(request, "enter.missing")})
        checked = await site.ask(CheckCode(correlation_id=letter.letter_id, code=typed), CodeChecked)
        if checked.valid:
            await signature.record_signature(
                site.runtime.pool,
                letter.letter_id,
                SignatureMethod.one_time_code,
                letter.recipient_name,
                case_id=checked.case_id or case.case_id,
                now=site.clock(),
            )
            metrics.pickup_step("signed")
            return RedirectResponse("/courrier", 303)
        return await code_refused(request, letter, checked)

    async def code_refused(request: Request, letter: LetterView, checked: CodeChecked) -> Response:
        if checked.problem is CodeProblem.none_issued:
            return RedirectResponse("/signature/code/attente", 303)
        if checked.problem is CodeProblem.expired:
            return site.render(request, "code_problem.html", 410, problem="expired")
        if checked.problem is CodeProblem.used:
            return site.render(request, "code_problem.html", 410, problem="used")
        if checked.problem is CodeProblem.locked:
            return site.render(request, "code_problem.html", 429, problem="codelocked")
        # A wrong code counts against the item and against the client address.
        judgement = await locks.answer(
            site.runtime.pool,
            letter.letter_id,
            LockKind.code,
            site.address(request),
            True,
            site.hold_rules(LockKind.code),
            site.clock(),
        )
        if locked := await site.wrong_answer(request, Guess.code):
            return locked
        if judgement.held_until is not None:
            return site.item_locked(request, LockKind.code, judgement.held_until)
        left = checked.tries_left
        if left is not None and left <= 0:
            return site.render(request, "code_problem.html", 429, problem="codelocked")
        message = (
            site.t(request, "enter.wrong", left=left)
            if left is not None
            else site.t(request, "enter.wrong_plain")
        )
        return await code_form(request, 422, errors={"code": message})

    async def new_code(request: Request) -> Response:
        found = await case_of(request)
        if isinstance(found, Response):
            return found
        letter, case = found
        if request.method == "GET" or case.state is not CaseState.approved:
            return RedirectResponse("/signature/code/saisie", 303)
        form = await site.form_of(request)
        if form is None:
            return site.forbidden(request)
        # No code is sent while the letter's codes are held: the locked page says until when.
        if held := site.held(request, letter, LockKind.code):
            return held
        chosen = field(form, "channel")
        channel: CodeChannel | None = None
        if chosen in channels_for(letter):
            channel = "sms" if chosen == "sms" else "email"
        requested = await site.ask(
            RequestCode(correlation_id=letter.letter_id, channel=channel), CodeRequested
        )
        if requested.locked_until is not None:
            return site.item_locked(request, LockKind.code, requested.locked_until)
        if requested.issued:
            await signature.code_requested(site.runtime.pool, letter.letter_id, channel)
            return await code_form(request, notice=site.t(request, "enter.new_sent"))
        if requested.retry_after_seconds is not None:
            throttled = site.t(request, "enter.throttled", seconds=requested.retry_after_seconds)
            return await code_form(request, 429, form_error=throttled)
        return await code_form(
            request, 409, form_error=site.t(request, "enter.not_issued", reason=requested.reason or "")
        )

    return [
        Route("/signature", choice_page),
        Route("/signature/certificat", certificate_page, methods=["GET", "POST"]),
        Route("/signature/certificat/avis.pdf", receipt_form),
        Route("/signature/code", code_request_page, methods=["GET", "POST"]),
        Route("/signature/code/justificatifs", documents_page, methods=["GET", "POST"]),
        Route("/signature/code/attente", waiting_page),
        Route("/signature/code/etat", case_state),
        Route("/signature/code/saisie", code_entry_page, methods=["GET", "POST"]),
        Route("/signature/code/nouveau", new_code, methods=["GET", "POST"]),
    ]


def refusal(site: Site, request: Request, refused: uploads.Refused) -> str:
    """Why an uploaded file is refused, in the page's language, with the limit it went past."""
    limit = refused.limit or 0
    kinds = refused.detail.replace(" and ", " et ") if site.language(request) == "fr" else refused.detail
    return site.t(
        request,
        f"upload.{refused.flaw}",
        kinds=kinds,
        detail=refused.detail,
        limit=limit,
        megapixels=f"{limit / 1_000_000:g}",
    )


def format_bytes(site: Site, request: Request, size: int) -> str:
    return format_size(size, site.language(request))


def ascii_filename(name: str) -> str:
    return "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in name)
