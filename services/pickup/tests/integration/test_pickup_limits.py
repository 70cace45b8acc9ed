"""Guessing is bounded: wrong item numbers, identities and codes are limited per item and per
client address, with a lockout page saying what happened and until when; and every form,
multipart uploads included, is refused without its CSRF token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from lre_shared.contracts import CheckCode, CodeChecked, CodeProblem, LetterDeposited
from services.pickup.tests.integration.recipients import (
    RIGHT_IDENTITY,
    WRONG_IDENTITY,
    Pickup,
    accepted,
    answering,
    csrf,
    deposit,
    identified,
    started_pickup,
    to_identity_page,
)
from tests.support.bus import Probe

pytestmark = pytest.mark.integration

ATTACKER = "203.0.113.7"
NEIGHBOUR = "198.51.100.20"


@pytest.fixture
async def strict(amqp_url: str, database_url: str, probe: Probe) -> AsyncIterator[Pickup]:
    """Pickup with small limits: 3 wrong answers of a kind per address, 3 wrong codes per item."""
    async with started_pickup(
        amqp_url,
        database_url,
        max_address_failures=3,
        max_code_attempts=3,
        address_lockout_minutes=15,
        trusted_proxies=("10.0.0.0/8",),
    ) as running_pickup:
        yield running_pickup


async def wrong_number(site: httpx.AsyncClient) -> httpx.Response:
    page = await site.get("/")
    return await site.post("/", data={"csrf_token": csrf(page), "item_number": "000000000000"})


# ------------------------------------------------------------------- item numbers


async def test_wrong_item_numbers_from_one_address_lock_it_out_even_for_a_right_number(
    strict: Pickup,
) -> None:
    event = await deposit(strict.amqp_url, strict)
    async with strict.browser(ATTACKER) as attacker, strict.browser(NEIGHBOUR) as neighbour:
        statuses = [(await wrong_number(attacker)).status_code for _ in range(3)]
        locked = await wrong_number(attacker)
        page = await attacker.get("/")
        right = await attacker.post("/", data={"csrf_token": csrf(page), "item_number": event.item_number})
        other = await to_identity_page(neighbour, event.item_number)

    assert statuses == [422, 422, 429]
    assert locked.status_code == 429
    assert "Trop d&#39;essais infructueux depuis votre connexion. Réessayez après le" in locked.text
    assert right.status_code == 429
    assert other.status_code == 200  # another address is not locked out


async def test_after_the_lockout_the_address_may_try_again(strict: Pickup) -> None:
    event = await deposit(strict.amqp_url, strict)
    async with strict.browser(ATTACKER) as attacker:
        for _ in range(3):
            await wrong_number(attacker)
        strict.clock.move(timedelta(minutes=16))
        page = await to_identity_page(attacker, event.item_number)

    assert page.status_code == 200


async def test_x_forwarded_for_is_the_client_only_behind_a_trusted_proxy(strict: Pickup) -> None:
    behind_proxy = strict.browser("10.1.2.3", headers={"x-forwarded-for": f"{ATTACKER}, 10.9.9.9"})
    spoofing = strict.browser(NEIGHBOUR, headers={"x-forwarded-for": "192.0.2.99"})
    async with behind_proxy as proxied, spoofing as spoofer:
        for _ in range(3):
            await wrong_number(proxied)
            await wrong_number(spoofer)

    rows = await strict.runtime.pool.fetch("SELECT address FROM address_failures ORDER BY address")
    assert sorted(r["address"] for r in rows) == sorted([ATTACKER, NEIGHBOUR])


# ---------------------------------------------------------------------- identities


async def test_wrong_identities_across_items_from_one_address_lock_it_out(strict: Pickup) -> None:
    letters = [await deposit(strict.amqp_url, strict) for _ in range(3)]
    async with strict.browser(ATTACKER) as attacker:
        statuses = []
        for letter in letters:
            page = await to_identity_page(attacker, letter.item_number)
            page = await attacker.post("/identite", data={"csrf_token": csrf(page), **WRONG_IDENTITY})
            statuses.append(page.status_code)
        page = await to_identity_page(attacker, letters[0].item_number)
        right = await attacker.post("/identite", data={"csrf_token": csrf(page), **RIGHT_IDENTITY})

    # one wrong identity per item: no item is locked, the address is
    assert statuses == [422, 422, 429]
    assert right.status_code == 429
    assert "depuis votre connexion" in right.text
    failures = await strict.runtime.pool.fetch("SELECT identity_failures FROM letters")
    assert [r["identity_failures"] for r in failures] == [1, 1, 1]


# --------------------------------------------------------------------------- codes


async def approved(pickup: Pickup, site: httpx.AsyncClient) -> LetterDeposited:
    event = await deposit(pickup.amqp_url, pickup)
    await accepted(site, event.item_number)
    await pickup.runtime.pool.execute(
        "INSERT INTO verification_cases (letter_id, case_id, state, document_channel, code_channel)"
        " VALUES ($1, $2, 'approved', 'email', 'email')",
        event.correlation_id,
        uuid.uuid4(),
    )
    return event


def wrong_code(query: CheckCode) -> CodeChecked:
    return CodeChecked(
        correlation_id=query.correlation_id, valid=False, problem=CodeProblem.wrong, tries_left=5
    )


async def type_code(site: httpx.AsyncClient, code: str = "000000") -> httpx.Response:
    page = await site.get("/signature/code/saisie")
    if page.status_code != 200:
        return page
    return await site.post("/signature/code/saisie", data={"csrf_token": csrf(page), "code": code})


async def test_wrong_codes_hold_that_address_for_the_item_until_a_stated_time(strict: Pickup) -> None:
    async with answering(strict.amqp_url, {CheckCode: wrong_code}) as desk:
        async with strict.browser(ATTACKER) as first:
            event = await approved(strict, first)
            statuses = [(await type_code(first)).status_code for _ in range(3)]
            locked = await first.get("/signature/code/saisie")
        async with strict.browser(NEIGHBOUR) as second:
            await identified(second, event.item_number)
            other = await second.get("/signature/code/saisie")

    assert statuses == [422, 422, 429]
    assert locked.status_code == 429
    assert "Trop de codes erronés pour ce pli" in locked.text
    assert "verrouillée jusqu&#39;au" in locked.text
    assert len(desk.of(CheckCode)) == 3  # held: no more guesses from there reach the desk
    assert other.status_code == 200  # another address is not held (pickup.domain.locks)


async def test_wrong_codes_from_one_address_on_several_items_lock_the_address(strict: Pickup) -> None:
    async with answering(strict.amqp_url, {CheckCode: wrong_code}) as desk:
        statuses = []
        for _ in range(3):
            async with strict.browser(ATTACKER) as site:
                await approved(strict, site)
                statuses.append((await type_code(site)).status_code)
        async with strict.browser(ATTACKER) as site:
            await approved(strict, site)
            locked = await type_code(site, "123456")

    assert statuses == [422, 422, 429]
    assert locked.status_code == 429
    assert "depuis votre connexion" in locked.text
    assert len(desk.of(CheckCode)) == 3


# ---------------------------------------------------------------------------- CSRF


FORMS: list[tuple[str, str | None, dict[str, Any]]] = [
    ("/", None, {"data": {"item_number": "000000000000"}}),
    ("/identite", None, {"data": RIGHT_IDENTITY}),
    ("/decision", None, {"data": {"decision": "accepter"}}),
    ("/signature/code", None, {"data": {"document_channel": "upload", "code_channel": "email"}}),
    ("/signature/certificat", None, {"files": {"receipt": ("ar.pdf", b"%PDF-1.7", "application/pdf")}}),
    (
        "/signature/code/justificatifs",
        "awaiting_documents",
        {"files": {"document": ("id.png", b"\x89PNG", "image/png")}},
    ),
    ("/signature/code/saisie", "approved", {"data": {"code": "123456"}}),
    ("/signature/code/nouveau", "approved", {"data": {}}),
]


@pytest.mark.parametrize(("path", "case_state", "body"), FORMS, ids=[f[0] for f in FORMS])
@pytest.mark.parametrize("token", ["missing", "another session's"])
async def test_every_form_is_refused_without_its_csrf_token(
    pickup: Pickup, path: str, case_state: str | None, body: dict[str, Any], token: str
) -> None:
    event = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site, pickup.browser() as other:
        if path == "/identite":
            await to_identity_page(site, event.item_number)
        elif path == "/decision":
            await identified(site, event.item_number)
        elif path != "/":
            await accepted(site, event.item_number)
        if case_state:
            await pickup.runtime.pool.execute(
                "INSERT INTO verification_cases (letter_id, case_id, state, document_channel, code_channel)"
                " VALUES ($1, $2, $3, 'upload', 'email')",
                event.correlation_id,
                uuid.uuid4(),
                case_state,
            )
        page = await site.get(path if path != "/signature/code/nouveau" else "/signature/code/saisie")
        assert page.status_code == 200, page.text
        foreign = csrf(await other.get("/"))
        fields = dict(body.get("data", {}))
        if token != "missing":
            fields["csrf_token"] = foreign
        answer = await site.post(path, data=fields, files=body.get("files"))

    assert answer.status_code == 403, answer.text
    assert "Session expirée" in answer.text
    state = await pickup.runtime.pool.fetchval(
        "SELECT state FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert state == ("awaiting" if path in ("/", "/identite", "/decision") else "accepted")
    assert await pickup.runtime.pool.fetchval("SELECT count(*) FROM address_failures") == 0
