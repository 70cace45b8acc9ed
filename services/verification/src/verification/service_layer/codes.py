"""One-time signing codes: issued on approval, sent again on request (throttled), checked
for the pickup site's signing page (DESIGN §2 step 5; the rules are in `domain.codes`).

The desk keeps only each code's HMAC; the clear code leaves in the `SendCode` command to
the notifier, through the outbox (the `codes` migration blanks it there once published).
Concurrent checks of one code are settled by conditional updates: of two right answers
only one spends the code, and every wrong try is counted.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from lre_shared.clock import Clock
from lre_shared.contracts import CheckCode, CodeChecked, CodeFailed, CodeRequested, RequestCode, SendCode
from verification.domain import codes
from verification.domain.cases import CodeOrder
from verification.service_layer.ports import UnitOfWork
from verification.settings import VerificationSettings


def rules(settings: VerificationSettings) -> codes.CodeRules:
    return codes.CodeRules(
        digits=settings.code_digits,
        ttl=timedelta(minutes=settings.code_ttl_minutes),
        max_tries=settings.rules().code_max_tries,
        resend_interval=timedelta(seconds=settings.code_resend_interval_seconds),
        max_per_hour=settings.code_max_per_hour,
    )


def _key(settings: VerificationSettings) -> bytes:
    return settings.code_hmac_key.get_secret_value().encode()


async def issue_code(
    uow: UnitOfWork, order: CodeOrder, *, settings: VerificationSettings, now: datetime
) -> datetime | None:
    """Issue a new code for the letter, replacing any earlier one, and have the notifier send
    it by the channel the recipient chose; returns until when it works. Not throttled: the
    desk calls it when support staff approve the case. None, and nothing sent, while the
    pickup site holds the letter's codes after wrong ones: the recipient asks for a code once
    the hold is over (or lifted)."""
    await uow.codes.serialise(order.letter_id)
    if await uow.letters.codes_held_until(order.letter_id, now) is not None:
        return None
    return await _issue(uow, order, settings, now)


async def request_code(
    query: RequestCode, uow: UnitOfWork, *, settings: VerificationSettings, clock: Clock
) -> CodeRequested:
    """The recipient asks for a new code: sent the way the last one went, unless throttled."""
    letter_id = query.correlation_id
    now = clock()
    await uow.codes.serialise(letter_id)
    if await uow.letters.recipient_forgotten_at(letter_id) is not None:
        # Forgotten only once past its windows (CPCE R.53-3): no code could sign anything now.
        return _not_issued(
            letter_id, "the letter is past its acceptance and download windows: no code is sent"
        )
    if locked_until := await uow.letters.codes_held_until(letter_id, now):
        reason = "too many wrong codes: codes for this letter are locked for now"
        return CodeRequested(correlation_id=letter_id, issued=False, reason=reason, locked_until=locked_until)
    latest = await uow.codes.latest(letter_id)
    if latest is not None:
        last, order = latest
        if last.used_at is not None:
            return _not_issued(letter_id, "this letter's code was already used to sign the acknowledgement")
    elif case := await uow.cases.last_approved(letter_id):
        # Approved while the letter's codes were held: no code went out then; it goes now.
        order = CodeOrder(
            case.case_id, letter_id, case.item_number, case.code_channel, case.code_address, case.language
        )
    else:
        return _not_issued(letter_id, "no code was ever issued for this letter: its identity is not verified")
    if query.channel is not None and query.channel != order.channel:
        # Codes go only where the sender said the recipient receives them.
        declared = await uow.letters.declared_address(letter_id, query.channel)
        if not declared:
            return _not_issued(letter_id, f"no {query.channel} address was declared for the recipient")
        order = replace(order, channel=query.channel, address=declared)
        await uow.cases.choose_code_channel(order.case_id, order.channel, order.address)
    # A code the notifier could not send (CodeFailed) never reached anyone: it does not count.
    issued = await uow.codes.issued_since(letter_id, now - codes.HOUR)
    wait = codes.retry_after(issued, now, rules(settings))
    if wait is not None:
        reason = f"a new code may be asked for in {wait} seconds"
        return CodeRequested(correlation_id=letter_id, issued=False, reason=reason, retry_after_seconds=wait)
    # In the case's language: the recipient may have switched it since the last code.
    language = await uow.cases.language(order.case_id)
    expires_at = await _issue(uow, replace(order, language=language or order.language), settings, now)
    return CodeRequested(correlation_id=letter_id, issued=True, expires_at=expires_at)


async def on_code_failed(event: CodeFailed, uow: UnitOfWork) -> None:
    """The notifier could not send a code (`code_id` is the SendCode's message id): it is
    void, and does not count against the codes the recipient may ask for; the pickup site
    offers another channel."""
    await uow.codes.void_unsent(event.code_id, event.occurred_at, event.reason[:1000])


async def check_code(
    query: CheckCode, uow: UnitOfWork, *, settings: VerificationSettings, clock: Clock
) -> CodeChecked:
    """The code typed on the signing page, against the letter's current code. A right code is
    spent (single use); a wrong one counts a try, and the last allowed wrong try locks it."""
    letter_id = query.correlation_id
    now = clock()
    code_rules = rules(settings)
    while True:
        latest = await uow.codes.latest(letter_id)
        stored = latest[0] if latest is not None else None
        verdict = codes.check(_key(settings), stored, query.code, now, code_rules)
        if stored is None or codes.standing_problem(stored, now, code_rules) is not None:
            return _checked(letter_id, verdict, None)
        settled = await _settle(uow, stored, verdict, now, code_rules)
        if settled is not None:
            return _checked(letter_id, *settled)
        # Another check or request changed the code meanwhile: spent or locked it, or a newer
        # code replaced it (then the typed code is checked against that one).
        fresh = await uow.codes.get(stored.code_id)
        standing = codes.standing_verdict(fresh, now, code_rules)
        if standing is None:
            raise RuntimeError(f"code {stored.code_id} of letter {letter_id} changed yet is still open")
        if not codes.replaced(fresh, code_rules):
            return _checked(letter_id, standing, None)


async def _settle(
    uow: UnitOfWork,
    stored: codes.StoredCode,
    verdict: codes.Verdict,
    now: datetime,
    rules: codes.CodeRules,
) -> tuple[codes.Verdict, UUID | None] | None:
    """Spend the code (right) or count the try (wrong), provided it is still open: of several
    concurrent checks each sees the others' effect. None when it was not open any more."""
    if verdict.valid:
        case_id = await uow.codes.spend(stored.code_id, now)
        return None if case_id is None else (verdict, case_id)
    tries = await uow.codes.count_wrong_try(stored.code_id, now, rules.max_tries)
    return None if tries is None else (codes.after_wrong_try(tries, rules), None)


async def _issue(
    uow: UnitOfWork, order: CodeOrder, settings: VerificationSettings, now: datetime
) -> datetime:
    code_rules = rules(settings)
    code_id = uuid4()
    code = codes.new_code(code_rules.digits)
    expires_at = codes.expires_at(now, code_rules)
    await uow.codes.replace_live(order.letter_id, now)
    mac = codes.code_mac(_key(settings), order.letter_id, code_id, code)
    await uow.codes.add(order, code_id, mac, now, expires_at)
    await uow.publish(
        SendCode(
            message_id=code_id,  # the notifier's CodeSent / CodeFailed name the code by it
            correlation_id=order.letter_id,
            channel=order.channel,
            address=order.address,
            code=code,
            expires_at=expires_at,
            language=order.language,
        )
    )
    return expires_at


def _not_issued(letter_id: UUID, reason: str) -> CodeRequested:
    return CodeRequested(correlation_id=letter_id, issued=False, reason=reason)


def _checked(letter_id: UUID, verdict: codes.Verdict, case_id: UUID | None) -> CodeChecked:
    return CodeChecked(
        correlation_id=letter_id,
        valid=verdict.valid,
        problem=verdict.problem,
        tries_left=verdict.tries_left,
        case_id=case_id,
    )
