"""The recipient details a letter's identity documents were compared with are forgotten once
the letter can no longer need the desk (GDPR art. 5(1)(e); its windows, CPCE R.53-3), on the
real parts: the sweep clears them, the letter, its cases, decisions and audit trail stay, and
the desk API shows the case with its recipient forgotten."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from lre_shared.contracts import (
    CodeRequested,
    LetterDeposited,
    RequestCode,
)
from verification.domain.cases import RecipientRetention
from verification.service_layer import retention

pytestmark = pytest.mark.integration

RETENTION, LONGEST = timedelta(days=7), timedelta(days=30)
RECIPIENT_COLUMNS = (
    "recipient_name, recipient_company, recipient_email, recipient_mobile, recipient_landline,"
    " recipient_birth_date"
)


def content_life(desk: Any) -> timedelta:
    return desk.desk.settings.rules().longest_content_life()


def rule(desk: Any) -> RecipientRetention:
    return RecipientRetention(content_life(desk), RETENTION, LONGEST)


async def learnt_now(desk: Any, **recipient: Any) -> LetterDeposited:
    """A letter the desk learnt at its clock's time (the column defaults to the database's)."""
    letter = await desk.deposit(**recipient)
    await desk.pool.execute(
        "UPDATE letters SET known_at = $2 WHERE letter_id = $1", letter.correlation_id, desk.clock()
    )
    return letter


async def with_document(desk: Any, files: Any, letter: LetterDeposited) -> uuid.UUID:
    return await desk.open_with_document(letter, files.pdf)


async def rejected(desk: Any, files: Any, letter: LetterDeposited) -> uuid.UUID:
    case_id = await with_document(desk, files, letter)
    claimed = await desk.http.post("/desk/api/cases/claim", headers=desk.auth())
    assert claimed.json()["case"]["case_id"] == str(case_id)
    decided = await desk.http.post(
        f"/desk/api/cases/{case_id}/decision",
        json={"outcome": "rejected", "reason": "the name differs"},
        headers=desk.auth(),
    )
    assert decided.status_code == 200, decided.text
    return case_id


async def recipient_row(desk: Any, letter: LetterDeposited) -> dict[str, Any]:
    row = await desk.pool.fetchrow(
        f"SELECT letter_id, item_number, policy, status, recipient_forgotten_at, {RECIPIENT_COLUMNS}"  # noqa: S608
        " FROM letters WHERE letter_id = $1",
        letter.correlation_id,
    )
    return dict(row)


async def actions(desk: Any, case_id: uuid.UUID) -> list[str]:
    rows = await desk.pool.fetch(
        "SELECT action FROM case_events WHERE case_id = $1 ORDER BY event_id", case_id
    )
    return [row["action"] for row in rows]


async def test_a_decided_letters_recipient_is_forgotten_after_its_content_life_and_the_retention(
    desk: Any, files: Any
) -> None:
    decided = await learnt_now(desk, birth_date=date(1980, 5, 17))
    case_id = await rejected(desk, files, decided)
    caseless = await learnt_now(desk)
    sweep = retention.sweeper(
        desk.desk.api.transactions,
        desk.desk.vault,
        RETENTION,
        LONGEST,
        desk.clock,
        content_life=content_life(desk),
    )
    start = desk.clock()

    desk.clock.advance(content_life(desk) + RETENTION - timedelta(minutes=1))
    early = await sweep(None)
    kept = await recipient_row(desk, decided)
    desk.clock.advance(timedelta(minutes=2))
    swept = await sweep(None)
    again = await sweep(None)

    assert (
        early[1] == 0
        and kept["recipient_name"] == "Camille Martin"
        and kept["recipient_forgotten_at"] is None
    )
    assert (swept[1], again) == (2, (0, 0))
    for letter in (decided, caseless):
        row = await recipient_row(desk, letter)
        assert row["recipient_forgotten_at"] == desk.clock()
        assert [row[column.strip()] for column in RECIPIENT_COLUMNS.split(",")] == [None] * 6
        assert (row["letter_id"], row["item_number"]) == (letter.correlation_id, letter.item_number)
    assert (await recipient_row(desk, decided))["policy"] == "default"
    case = await desk.pool.fetchrow(
        "SELECT state, decision, reason, decided_at FROM cases WHERE case_id = $1", case_id
    )
    assert (case["state"], case["reason"]) == ("rejected", "the name differs")
    assert case["decided_at"] >= start
    trail = await actions(desk, case_id)
    assert trail.count("recipient_forgotten") == 1 and trail[-1] == "recipient_forgotten"
    assert trail[:2] == ["opened", "document_added"]


async def test_the_case_api_shows_a_forgotten_recipient_as_forgotten(desk: Any, files: Any) -> None:
    letter = await learnt_now(desk)
    case_id = await rejected(desk, files, letter)
    desk.clock.advance(content_life(desk) + RETENTION + timedelta(minutes=1))
    await retention.forget_recipients(desk.desk.api.transactions, rule(desk), now=desk.clock())

    shown = await desk.http.get(f"/desk/api/cases/{case_id}", headers=desk.auth("dave", ("supervisor",)))
    audit = await desk.http.get(
        f"/desk/api/cases/{case_id}/audit", headers=desk.auth("dave", ("supervisor",))
    )

    assert shown.status_code == 200, shown.text
    recipient = shown.json()["recipient"]
    assert datetime.fromisoformat(recipient.pop("recipient_forgotten_at")) == desk.clock()
    assert recipient == {"recipient_name": None, "recipient_company": None, "recipient_landline": None}
    assert shown.json()["decision"] == "rejected"
    assert audit.json()["events"][-1]["action"] == "recipient_forgotten"


async def test_a_letter_with_an_undecided_case_keeps_its_recipient_until_the_longest_delay(
    desk: Any, files: Any
) -> None:
    letter = await learnt_now(desk)
    case_id = await with_document(desk, files, letter)
    forget = rule(desk)

    desk.clock.advance(content_life(desk) + LONGEST - timedelta(minutes=1))
    early = await retention.forget_recipients(desk.desk.api.transactions, forget, now=desk.clock())
    desk.clock.advance(timedelta(minutes=2))
    late = await retention.forget_recipients(desk.desk.api.transactions, forget, now=desk.clock())

    assert (early, late) == (0, 1)
    assert (await recipient_row(desk, letter))["recipient_name"] is None
    assert await desk.pool.fetchval("SELECT state FROM cases WHERE case_id = $1", case_id) == "pending"


async def test_two_sweeps_at_once_forget_a_letter_once_in_its_cases_audit_trail(
    desk: Any, files: Any
) -> None:
    letter = await learnt_now(desk)
    case_id = await rejected(desk, files, letter)
    desk.clock.advance(content_life(desk) + LONGEST + timedelta(minutes=1))

    # Two replicas' sweepers, the same letter due for both.
    counts = await asyncio.gather(
        *(
            retention.forget_recipients(desk.desk.api.transactions, rule(desk), now=desk.clock())
            for _ in range(2)
        )
    )

    assert sorted(counts) == [0, 1]
    assert (await actions(desk, case_id)).count("recipient_forgotten") == 1


async def test_a_forgotten_letter_opens_no_case_and_gets_no_code(desk: Any, files: Any) -> None:
    letter = await learnt_now(desk)
    await rejected(desk, files, letter)
    desk.clock.advance(content_life(desk) + RETENTION + timedelta(minutes=1))
    await retention.forget_recipients(desk.desk.api.transactions, rule(desk), now=desk.clock())

    reopened = await desk.open_case(letter, code_channel="sms")
    code = await desk.ask(RequestCode(correlation_id=letter.correlation_id, channel="sms"), CodeRequested)

    assert reopened.case_id is None and "past its acceptance and download windows" in (reopened.reason or "")
    assert not code.issued and "past its acceptance and download windows" in (code.reason or "")
