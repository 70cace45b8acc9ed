"""One-time signing codes on the real parts (PostgreSQL, RabbitMQ): a code issued on approval
reaches the bus for the notifier; the pickup site asks for new ones (throttled) and checks
what the recipient typed, over request/reply; the rules hold under concurrency; and the
desk's database never holds a code in clear."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

import asyncpg
import pytest
from pydantic import SecretStr

from lre_shared.bus import Bus, Transaction
from lre_shared.contracts import (
    CheckCode,
    CodeChecked,
    CodeProblem,
    CodeRequested,
    RequestCode,
    SendCode,
    now_utc,
)
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service
from tests.support.bus import Probe, eventually, open_probe, publish, running
from verification.adapters.postgres import unit_of_work
from verification.bootstrap import MIGRATIONS, in_unit_of_work
from verification.domain.cases import CodeOrder
from verification.service_layer import codes
from verification.settings import VerificationSettings

pytestmark = pytest.mark.integration

ADDRESS = "m.dupont@cabinet-dupont.example"


@dataclass
class Clock:
    """The desk's clock, moved by the tests instead of sleeping."""

    now: datetime = field(default_factory=now_utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Issued:
    letter_id: uuid.UUID
    case_id: uuid.UUID
    expires_at: datetime


@dataclass
class Desk:
    runtime: ServiceRuntime
    settings: VerificationSettings
    clock: Clock
    probe: Probe

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.pool

    async def issue(self, channel: Literal["email", "sms"] = "email", address: str = ADDRESS) -> Issued:
        """What the desk does when support staff approve the case."""
        letter_id, case_id = uuid.uuid4(), uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            expires_at = await codes.issue_code(
                unit_of_work(Transaction(conn)),
                CodeOrder(
                    case_id=case_id,
                    letter_id=letter_id,
                    item_number=f"{uuid.uuid4().int % 10**12:012d}",
                    channel=channel,
                    address=address,
                    language="fr",
                ),
                settings=self.settings,
                now=self.clock(),
            )
        return Issued(letter_id, case_id, expires_at)

    async def sent(self, letter_id: uuid.UUID, count: int = 1) -> list[SendCode]:
        """The `SendCode` commands for the notifier seen on the bus, once `count` arrived."""
        await eventually(lambda: len(self.probe.of(SendCode.routing_key, letter_id)) >= count)
        return [SendCode.model_validate_json(m.body) for m in self.probe.of(SendCode.routing_key, letter_id)]

    async def code_of(self, letter_id: uuid.UUID) -> str:
        return (await self.sent(letter_id))[-1].code

    async def check(self, letter_id: uuid.UUID, typed: str) -> CodeChecked:
        query = CheckCode(correlation_id=letter_id, code=typed)
        return await self.runtime.bus.ask(query, CodeChecked, timeout=30.0)

    async def request(self, letter_id: uuid.UUID) -> CodeRequested:
        query = RequestCode(correlation_id=letter_id)
        return await self.runtime.bus.ask(query, CodeRequested, timeout=30.0)

    async def check_on(self, conn: asyncpg.Connection, letter_id: uuid.UUID, typed: str) -> CodeChecked:
        """The handler itself, on a connection and in a transaction of the test's own."""
        query = CheckCode(correlation_id=letter_id, code=typed)
        async with conn.transaction():
            return await codes.check_code(
                query, unit_of_work(Transaction(conn)), settings=self.settings, clock=self.clock
            )

    async def row(self, letter_id: uuid.UUID) -> asyncpg.Record:
        row: asyncpg.Record = await self.pool.fetchrow(
            "SELECT * FROM codes WHERE letter_id = $1 ORDER BY issued_at DESC LIMIT 1", letter_id
        )
        return row


def desk_settings(amqp_url: str, database_url: str) -> VerificationSettings:
    # Only the bus's settings and the code rules matter here: the desk's other parts (S3,
    # agents' tokens) are not started, so their settings are left out unchecked.
    return VerificationSettings.model_construct(
        amqp_url=SecretStr(amqp_url),
        database_url=SecretStr(database_url),
        http_port=0,
        outbox_poll_seconds=0.2,
        code_hmac_key=SecretStr("a server key of thirty-two chars+"),
    )


@pytest.fixture
async def desk(amqp_url: str, database_url: str) -> AsyncIterator[Desk]:
    settings = desk_settings(amqp_url, database_url)
    clock = Clock()
    bus = Bus(settings, Service.verification)
    # As bootstrap subscribes them, with the test's clock.
    bus.subscribe(
        RequestCode,
        in_unit_of_work(partial(codes.request_code, settings=settings, clock=clock)),
        idempotent=True,
    )
    bus.subscribe(
        CheckCode, in_unit_of_work(partial(codes.check_code, settings=settings, clock=clock)), idempotent=True
    )
    async with (
        open_probe(amqp_url, (SendCode.exchange, SendCode.routing_key)) as probe,
        running(ServiceRuntime(bus=bus, migrations=MIGRATIONS), amqp_url) as runtime,
    ):
        yield Desk(runtime, settings, clock, probe)


# ---------------------------------------------------------------------- issue and send


async def test_an_approved_recipient_gets_a_code_through_the_notifier(desk: Desk) -> None:
    issued = await desk.issue(channel="sms", address="+33612345678")

    [command] = await desk.sent(issued.letter_id)
    assert command.channel == "sms"
    assert command.address == "+33612345678"
    assert command.language == "fr"
    assert len(command.code) == 8 and command.code.isdigit()
    assert command.expires_at == issued.expires_at == desk.clock.now + timedelta(minutes=10)
    row = await desk.row(issued.letter_id)
    assert (row["channel"], row["address"], row["case_id"]) == ("sms", "+33612345678", issued.case_id)


async def test_the_right_code_is_valid_once_then_used(desk: Desk) -> None:
    issued = await desk.issue()
    code = await desk.code_of(issued.letter_id)
    desk.clock.advance(minutes=3)

    first = await desk.check(issued.letter_id, f"{code[:4]} {code[4:]}")
    again = await desk.check(issued.letter_id, code)

    assert first == CodeChecked(
        correlation_id=issued.letter_id,
        message_id=first.message_id,
        occurred_at=first.occurred_at,
        valid=True,
        case_id=issued.case_id,
    )
    assert (again.valid, again.problem, again.case_id) == (False, CodeProblem.used, None)
    assert (await desk.row(issued.letter_id))["used_at"] == desk.clock.now


async def test_a_code_checked_after_ten_minutes_is_expired(desk: Desk) -> None:
    issued = await desk.issue()
    code = await desk.code_of(issued.letter_id)

    desk.clock.advance(minutes=9, seconds=59)
    assert (await desk.check(issued.letter_id, "00000000")).problem is CodeProblem.wrong
    desk.clock.advance(seconds=1)
    expired = await desk.check(issued.letter_id, code)

    assert (expired.valid, expired.problem) == (False, CodeProblem.expired)
    assert (await desk.row(issued.letter_id))["used_at"] is None


async def test_five_wrong_tries_lock_the_code_even_against_the_right_one(desk: Desk) -> None:
    issued = await desk.issue()
    code = await desk.code_of(issued.letter_id)
    wrong = f"{(int(code) + 1) % 10**8:08d}"

    answers = [await desk.check(issued.letter_id, wrong) for _ in range(5)]
    after = await desk.check(issued.letter_id, code)

    assert [(a.valid, a.problem, a.tries_left) for a in answers] == [
        (False, CodeProblem.wrong, 4),
        (False, CodeProblem.wrong, 3),
        (False, CodeProblem.wrong, 2),
        (False, CodeProblem.wrong, 1),
        (False, CodeProblem.wrong, 0),
    ]
    assert (after.valid, after.problem, after.tries_left) == (False, CodeProblem.locked, 0)
    row = await desk.row(issued.letter_id)
    assert row["tries"] == 5 and row["invalidated_at"] is not None and row["used_at"] is None


async def test_a_letter_without_a_code_gets_neither_a_check_nor_a_new_code(desk: Desk) -> None:
    letter_id = uuid.uuid4()

    checked = await desk.check(letter_id, "12345678")
    requested = await desk.request(letter_id)

    assert (checked.valid, checked.problem) == (False, CodeProblem.none_issued)
    assert requested.issued is False
    assert requested.reason is not None and "not verified" in requested.reason
    assert desk.probe.of(SendCode.routing_key, letter_id) == []


# ---------------------------------------------------------------------- new codes


async def test_a_new_code_is_refused_within_a_minute_with_the_wait_then_sent_the_same_way(desk: Desk) -> None:
    issued = await desk.issue(channel="sms", address="+33612345678")
    first = await desk.code_of(issued.letter_id)

    desk.clock.advance(seconds=20)
    throttled = await desk.request(issued.letter_id)
    desk.clock.advance(seconds=40)
    granted = await desk.request(issued.letter_id)

    assert (throttled.issued, throttled.retry_after_seconds) == (False, 40)
    assert throttled.reason is not None and "40 seconds" in throttled.reason
    assert granted.issued is True
    assert granted.expires_at == desk.clock.now + timedelta(minutes=10)
    _, new = await desk.sent(issued.letter_id, 2)
    assert (new.channel, new.address) == ("sms", "+33612345678")
    # The new code replaces the old one (the same digits again: one chance in 10^8).
    assert (await desk.check(issued.letter_id, first)).problem is CodeProblem.wrong
    checked = await desk.check(issued.letter_id, new.code)
    assert (checked.valid, checked.case_id) == (True, issued.case_id)


async def test_at_most_five_codes_an_hour_for_a_letter(desk: Desk) -> None:
    issued = await desk.issue()
    start = desk.clock.now
    for _ in range(4):
        desk.clock.advance(minutes=1)
        assert (await desk.request(issued.letter_id)).issued

    desk.clock.advance(minutes=10)
    refused = await desk.request(issued.letter_id)
    desk.clock.now = start + timedelta(hours=1)
    granted = await desk.request(issued.letter_id)

    assert (refused.issued, refused.retry_after_seconds) == (False, 46 * 60)
    assert granted.issued
    assert len(await desk.sent(issued.letter_id, 6)) == 6


async def test_no_new_code_once_the_code_was_used(desk: Desk) -> None:
    issued = await desk.issue()
    assert (await desk.check(issued.letter_id, await desk.code_of(issued.letter_id))).valid
    desk.clock.advance(minutes=5)

    requested = await desk.request(issued.letter_id)

    assert requested.issued is False
    assert requested.reason is not None and "already used" in requested.reason


async def test_a_locked_code_is_replaced_by_a_new_one_on_request(desk: Desk) -> None:
    issued = await desk.issue()
    for _ in range(5):
        await desk.check(issued.letter_id, "not it")
    desk.clock.advance(minutes=1)

    assert (await desk.request(issued.letter_id)).issued
    [_, new] = await desk.sent(issued.letter_id, 2)
    checked = await desk.check(issued.letter_id, new.code)

    assert checked.valid


# ---------------------------------------------------------------------- concurrency


async def test_ten_concurrent_checks_of_the_right_code_over_the_bus_make_exactly_one_valid(
    desk: Desk,
) -> None:
    issued = await desk.issue()
    code = await desk.code_of(issued.letter_id)

    answers = await asyncio.gather(*(desk.check(issued.letter_id, code) for _ in range(10)))

    assert sum(a.valid for a in answers) == 1
    assert sorted(str(a.problem) for a in answers if not a.valid) == ["used"] * 9


async def check_at_once(desk: Desk, letter_id: uuid.UUID, typed: list[str]) -> list[CodeChecked]:
    """Each check on a connection and in a transaction of its own, all begun before any decides."""
    url = desk.settings.database_url.get_secret_value()
    connections = [await asyncpg.connect(url) for _ in typed]
    barrier = asyncio.Barrier(len(typed))

    async def one(conn: asyncpg.Connection, code: str) -> CodeChecked:
        await barrier.wait()
        return await desk.check_on(conn, letter_id, code)

    try:
        async with asyncio.timeout(30):
            checks = (one(conn, code) for conn, code in zip(connections, typed, strict=True))
            return list(await asyncio.gather(*checks))
    finally:
        for conn in connections:
            await conn.close()


async def test_ten_concurrent_transactions_checking_the_right_code_spend_it_once(desk: Desk) -> None:
    issued = await desk.issue()
    code = await desk.code_of(issued.letter_id)

    answers = await check_at_once(desk, issued.letter_id, [code] * 10)

    assert [a.case_id for a in answers if a.valid] == [issued.case_id]
    assert [a.problem for a in answers if not a.valid] == [CodeProblem.used] * 9


async def test_concurrent_wrong_tries_are_each_counted_and_lock_the_code_at_the_fifth(desk: Desk) -> None:
    issued = await desk.issue()

    answers = await check_at_once(desk, issued.letter_id, ["00000000x"] * 10)

    assert sorted(a.tries_left or 0 for a in answers if a.problem is CodeProblem.wrong) == [0, 1, 2, 3, 4]
    assert [a.tries_left for a in answers if a.problem is CodeProblem.locked] == [0] * 5
    assert (await desk.row(issued.letter_id))["tries"] == 5


async def test_a_check_racing_a_new_code_is_judged_against_the_new_code(desk: Desk) -> None:
    issued = await desk.issue()
    old = await desk.row(issued.letter_id)
    desk.clock.advance(minutes=1)
    url = desk.settings.database_url.get_secret_value()
    requester, checker = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        # A new code is being issued: the old one is held while it is replaced.
        request = requester.transaction()
        await request.start()
        await requester.execute("SELECT 1 FROM codes WHERE code_id = $1 FOR UPDATE", old["code_id"])
        checking = asyncio.create_task(desk.check_on(checker, issued.letter_id, "00000000x"))
        # The check read the old code and now waits on it.
        pid = checker.get_server_pid()
        waiting = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
        await eventually(lambda: desk.pool.fetchval(waiting, pid))
        await codes.issue_code(
            unit_of_work(Transaction(requester)),
            CodeOrder(
                case_id=issued.case_id,
                letter_id=issued.letter_id,
                item_number=old["item_number"],
                channel="email",
                address=ADDRESS,
                language="fr",
            ),
            settings=desk.settings,
            now=desk.clock(),
        )
        await request.commit()
        checked = await asyncio.wait_for(checking, 30)
    finally:
        await requester.close()
        await checker.close()

    # Not "locked" (the old code was replaced, not locked): one wrong try of the new code.
    assert (checked.problem, checked.tries_left) == (CodeProblem.wrong, 4)
    new = await desk.row(issued.letter_id)
    assert new["code_id"] != old["code_id"] and new["tries"] == 1


async def test_a_check_delivered_twice_counts_one_try(desk: Desk, amqp_url: str) -> None:
    issued = await desk.issue()
    query = CheckCode(correlation_id=issued.letter_id, code="00000000x")

    await publish(amqp_url, query, query)
    stats = desk.runtime.bus.stats
    await eventually(lambda: stats.handled + stats.duplicates >= 2)

    assert stats.duplicates == 1
    assert (await desk.row(issued.letter_id))["tries"] == 1


# ----------------------------------------------------------------- nothing in clear


async def occurrences(pool: asyncpg.Pool, needle: str) -> list[str]:
    """Every column of every table of the database holding `needle`: text as text, bytes as
    bytes, anything else as its text form."""
    columns = await pool.fetch(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        " AND table_schema NOT LIKE 'pg_toast%'"
    )
    assert {c["table_name"] for c in columns} >= {"codes", "outbox", "inbox", "letters"}
    found = []
    for c in columns:
        name = f'"{c["table_schema"]}"."{c["table_name"]}"'
        column = f'"{c["column_name"]}"'
        value: bytes | str = needle
        if c["data_type"] == "bytea":
            condition, value = f"position($1::bytea IN {column}) > 0", needle.encode()
        else:
            condition = f"strpos({column}::text, $1) > 0"
        if await pool.fetchval(f"SELECT count(*) FROM {name} WHERE {condition}", value):  # noqa: S608
            found.append(f"{c['table_name']}.{c['column_name']}")
    return found


async def test_the_database_holds_no_code_in_clear(desk: Desk) -> None:
    issued = await desk.issue()
    desk.clock.advance(minutes=1)
    assert (await desk.request(issued.letter_id)).issued
    first, second = await desk.sent(issued.letter_id, 2)
    assert (await desk.check(issued.letter_id, first.code)).problem is CodeProblem.wrong
    assert (await desk.check(issued.letter_id, second.code)).valid
    # Every command is on the bus and marked published.
    await eventually(lambda: desk.pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"))

    assert await occurrences(desk.pool, first.code) == []
    assert await occurrences(desk.pool, second.code) == []
    # The scan does see what is there: the address is kept, and so is the published command.
    assert sorted(await occurrences(desk.pool, ADDRESS)) == ["codes.address", "outbox.body"]


async def test_a_code_waiting_in_the_outbox_is_forgotten_there_once_published(desk: Desk) -> None:
    letter_id = uuid.uuid4()
    async with desk.pool.acquire() as conn, conn.transaction():
        # The outbox row as the desk writes it, held back from the relay by its retry time.
        await codes.issue_code(
            unit_of_work(Transaction(conn)),
            CodeOrder(
                case_id=uuid.uuid4(),
                letter_id=letter_id,
                item_number="123456789012",
                channel="email",
                address=ADDRESS,
                language="en",
            ),
            settings=desk.settings,
            now=desk.clock(),
        )
        await conn.execute(
            "UPDATE outbox SET next_attempt_at = now() + interval '1 hour' WHERE correlation_id = $1",
            letter_id,
        )
    body = await desk.pool.fetchval("SELECT body FROM outbox WHERE correlation_id = $1", letter_id)
    code = SendCode.model_validate_json(body).code
    assert await occurrences(desk.pool, code) == ["outbox.body"]  # until it is on the bus

    await desk.pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE correlation_id = $1", letter_id)
    [sent] = await desk.sent(letter_id)
    await eventually(
        lambda: desk.pool.fetchval(
            "SELECT published_at IS NOT NULL FROM outbox WHERE correlation_id = $1", letter_id
        )
    )

    assert sent.code == code
    assert await occurrences(desk.pool, code) == []
