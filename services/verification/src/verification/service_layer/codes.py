"""One-time signing codes: issued on approval, sent again on request (throttled), checked
for the pickup site's signing page (DESIGN §2 step 5; the rules are in `domain.codes`).

The desk keeps only each code's HMAC; the clear code leaves in the `SendCode` command to
the notifier, through the outbox (the `codes` migration blanks it there once published).
Concurrent checks of one code are settled by conditional updates: of two right answers
only one spends the code, and every wrong try is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID, uuid4

import asyncpg

from lre_shared.bus import Transaction
from lre_shared.messages import CheckCode, CodeChecked, CodeFailed, CodeRequested, RequestCode, SendCode
from verification.domain import codes
from verification.settings import VerificationSettings

Clock = Callable[[], datetime]

# Advisory lock class of a letter's codes (the second key is the letter's hash): issuing is
# serialised per letter, so throttling counts every code and one code at most is live.
_CODES_LOCK = 0x434F4445  # "CODE"


def rules(settings: VerificationSettings) -> codes.CodeRules:
    return codes.CodeRules(
        digits=settings.code_digits,
        ttl=timedelta(minutes=settings.code_ttl_minutes),
        max_tries=settings.code_max_tries,
        resend_interval=timedelta(seconds=settings.code_resend_interval_seconds),
        max_per_hour=settings.code_max_per_hour,
    )


def _key(settings: VerificationSettings) -> bytes:
    return settings.code_hmac_key.get_secret_value().encode()


async def issue_code(
    tx: Transaction,
    *,
    case_id: UUID,
    letter_id: UUID,
    item_number: str,
    channel: Literal["email", "sms"],
    address: str,
    language: Literal["fr", "en"],
    settings: VerificationSettings,
    now: datetime,
) -> datetime | None:
    """Issue a new code for the letter, replacing any earlier one, and have the notifier send
    it by the channel the recipient chose; returns until when it works. Not throttled: the
    desk calls it when support staff approve the case. None, and nothing sent, while the
    pickup site holds the letter's codes after wrong ones: the recipient asks for a code once
    the hold is over (or lifted)."""
    await _lock_letter(tx.conn, letter_id)
    if await codes_locked_until(tx.conn, letter_id, now) is not None:
        return None
    return await _issue(tx, case_id, letter_id, item_number, channel, address, language, settings, now)


async def request_code(
    query: RequestCode, tx: Transaction, *, settings: VerificationSettings, clock: Clock
) -> CodeRequested:
    """The recipient asks for a new code: sent the way the last one went, unless throttled."""
    letter_id = query.correlation_id
    now = clock()
    await _lock_letter(tx.conn, letter_id)
    if locked_until := await codes_locked_until(tx.conn, letter_id, now):
        reason = "too many wrong codes: codes for this letter are locked for now"
        return CodeRequested(correlation_id=letter_id, issued=False, reason=reason, locked_until=locked_until)
    last = await _latest(tx.conn, letter_id)
    if last is None:
        # Approved while the letter's codes were held: no code went out then; it goes now.
        last = await tx.conn.fetchrow(
            "SELECT case_id, item_number, code_channel AS channel, code_address AS address, language,"
            " NULL AS used_at FROM cases WHERE letter_id = $1 AND state = 'approved'"
            " ORDER BY decided_at DESC LIMIT 1",
            letter_id,
        )
    if last is None:
        return _not_issued(letter_id, "no code was ever issued for this letter: its identity is not verified")
    if last["used_at"] is not None:
        return _not_issued(letter_id, "this letter's code was already used to sign the acknowledgement")
    channel, address = last["channel"], last["address"]
    if query.channel is not None and query.channel != channel:
        declared = await _declared_address(tx.conn, letter_id, query.channel)
        if declared is None:
            return _not_issued(letter_id, f"no {query.channel} address was declared for the recipient")
        channel, address = query.channel, declared
        await tx.conn.execute(
            "UPDATE cases SET code_channel = $2, code_address = $3 WHERE case_id = $1",
            last["case_id"],
            channel,
            address,
        )
    # A code the notifier could not send (CodeFailed) never reached anyone: it does not count.
    issued = await tx.conn.fetch(
        "SELECT issued_at FROM codes WHERE letter_id = $1 AND issued_at > $2 AND send_failed_at IS NULL",
        letter_id,
        now - codes.HOUR,
    )
    wait = codes.retry_after([row["issued_at"] for row in issued], now, rules(settings))
    if wait is not None:
        reason = f"a new code may be asked for in {wait} seconds"
        return CodeRequested(correlation_id=letter_id, issued=False, reason=reason, retry_after_seconds=wait)
    # In the case's language: the recipient may have switched it since the last code.
    language = await tx.conn.fetchval("SELECT language FROM cases WHERE case_id = $1", last["case_id"])
    expires_at = await _issue(
        tx,
        last["case_id"],
        letter_id,
        last["item_number"],
        channel,
        address,
        language or last["language"],
        settings,
        now,
    )
    return CodeRequested(correlation_id=letter_id, issued=True, expires_at=expires_at)


async def _declared_address(
    conn: asyncpg.Connection, letter_id: UUID, channel: Literal["email", "sms"]
) -> str | None:
    """Where the sender said the recipient receives `channel`: codes go nowhere else."""
    column = "recipient_email" if channel == "email" else "recipient_mobile"
    address: str | None = await conn.fetchval(
        f"SELECT {column} FROM letters WHERE letter_id = $1",  # noqa: S608 - one of two constant names
        letter_id,
    )
    return address or None


async def on_code_failed(event: CodeFailed, tx: Transaction) -> None:
    """The notifier could not send a code (`code_id` is the SendCode's message id): it is
    void, and does not count against the codes the recipient may ask for; the pickup site
    offers another channel."""
    await tx.conn.execute(
        "UPDATE codes SET send_failed_at = $2, send_failure = $3,"
        " invalidated_at = coalesce(invalidated_at, $2) WHERE code_id = $1",
        event.code_id,
        event.occurred_at,
        event.reason[:1000],
    )


async def check_code(
    query: CheckCode, tx: Transaction, *, settings: VerificationSettings, clock: Clock
) -> CodeChecked:
    """The code typed on the signing page, against the letter's current code. A right code is
    spent (single use); a wrong one counts a try, and the last allowed wrong try locks it."""
    letter_id = query.correlation_id
    now = clock()
    code_rules = rules(settings)
    while True:
        row = await _latest(tx.conn, letter_id)
        stored = _stored(row) if row is not None else None
        verdict = codes.check(_key(settings), stored, query.code, now, code_rules)
        if stored is None or codes.standing_problem(stored, now, code_rules) is not None:
            return _checked(letter_id, verdict, None)
        settled = await _settle(tx.conn, stored, verdict, now, code_rules)
        if settled is not None:
            return _checked(letter_id, *settled)
        # Another check or request changed the code meanwhile: spent or locked it, or a newer
        # code replaced it (then the typed code is checked against that one).
        fresh = _stored(await tx.conn.fetchrow("SELECT * FROM codes WHERE code_id = $1", stored.code_id))
        standing = codes.standing_verdict(fresh, now, code_rules)
        if standing is None:
            raise RuntimeError(f"code {stored.code_id} of letter {letter_id} changed yet is still open")
        if not codes.replaced(fresh, code_rules):
            return _checked(letter_id, standing, None)


async def _settle(
    conn: asyncpg.Connection,
    stored: codes.StoredCode,
    verdict: codes.Verdict,
    now: datetime,
    rules: codes.CodeRules,
) -> tuple[codes.Verdict, UUID | None] | None:
    """Spend the code (right) or count the try (wrong), provided it is still open: of several
    concurrent checks each sees the others' effect. None when it was not open any more."""
    if verdict.valid:
        case_id: UUID | None = await conn.fetchval(
            "UPDATE codes SET used_at = $2 WHERE code_id = $1"
            " AND used_at IS NULL AND invalidated_at IS NULL AND expires_at > $2 RETURNING case_id",
            stored.code_id,
            now,
        )
        return None if case_id is None else (verdict, case_id)
    tries: int | None = await conn.fetchval(
        "UPDATE codes SET tries = tries + 1, invalidated_at = CASE WHEN tries + 1 >= $3 THEN $2 END"
        " WHERE code_id = $1 AND used_at IS NULL AND invalidated_at IS NULL AND expires_at > $2"
        " RETURNING tries",
        stored.code_id,
        now,
        rules.max_tries,
    )
    return None if tries is None else (codes.after_wrong_try(tries, rules), None)


async def _issue(
    tx: Transaction,
    case_id: UUID,
    letter_id: UUID,
    item_number: str,
    channel: Literal["email", "sms"],
    address: str,
    language: Literal["fr", "en"],
    settings: VerificationSettings,
    now: datetime,
) -> datetime:
    code_rules = rules(settings)
    code_id = uuid4()
    code = codes.new_code(code_rules.digits)
    expires_at = codes.expires_at(now, code_rules)
    await tx.conn.execute(
        "UPDATE codes SET invalidated_at = $2"
        " WHERE letter_id = $1 AND used_at IS NULL AND invalidated_at IS NULL",
        letter_id,
        now,
    )
    await tx.conn.execute(
        "INSERT INTO codes (code_id, letter_id, case_id, item_number, channel, address, language,"
        " code_hmac, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        code_id,
        letter_id,
        case_id,
        item_number,
        channel,
        address,
        language,
        codes.code_mac(_key(settings), letter_id, code_id, code),
        now,
        expires_at,
    )
    await tx.publish(
        SendCode(
            message_id=code_id,  # the notifier's CodeSent / CodeFailed name the code by it
            correlation_id=letter_id,
            channel=channel,
            address=address,
            code=code,
            expires_at=expires_at,
            language=language,
        )
    )
    return expires_at


async def codes_locked_until(conn: asyncpg.Connection, letter_id: UUID, now: datetime) -> datetime | None:
    """Until when the pickup site holds the letter's codes after wrong ones, if it does now."""
    until: datetime | None = await conn.fetchval(
        "SELECT codes_locked_until FROM letters WHERE letter_id = $1 AND codes_locked_until > $2",
        letter_id,
        now,
    )
    return until


async def _lock_letter(conn: asyncpg.Connection, letter_id: UUID) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _CODES_LOCK, str(letter_id))


async def _latest(conn: asyncpg.Connection, letter_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM codes WHERE letter_id = $1 ORDER BY issued_at DESC LIMIT 1",
        letter_id,
    )
    return row


def _stored(row: asyncpg.Record) -> codes.StoredCode:
    return codes.StoredCode(
        code_id=row["code_id"],
        letter_id=row["letter_id"],
        code_hmac=bytes(row["code_hmac"]),
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        tries=row["tries"],
        used_at=row["used_at"],
        invalidated_at=row["invalidated_at"],
    )


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
