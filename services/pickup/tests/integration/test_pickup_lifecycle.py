"""The pickup service in-process on the real parts (RabbitMQ, PostgreSQL): the letter's life
as the bus tells it, the recipient's decision, and the site as a browser sees it."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from deploy.local.demo import DEMO_RECIPIENT
from lre_shared import metrics
from lre_shared.contracts import (
    LetterAccepted,
    LetterRefused,
    NoticeChannel,
    NoticeFailed,
    SendNotice,
    SignatureMethod,
    now_utc,
)
from lre_shared.rules import FR_LRE
from pickup.adapters.postgres import storage_on
from pickup.service_layer import handlers, signature
from pickup.service_layer.handlers import DecisionRefused
from services.pickup.tests.integration.recipients import (
    RIGHT_IDENTITY,
    WRONG_IDENTITY,
    Pickup,
    accepted,
    csrf,
    deposit,
    deposited,
    identified,
    notice_sent,
    record_notice,
    secret_sender,
    to_identity_page,
    wait_for_row,
)
from tests.support.bus import Probe, eventually, publish

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")


# ------------------------------------------------------------------------ the bus side


async def test_a_deposited_letter_awaits_and_a_notice_is_commanded_with_a_deadline_15_days_after_today(
    pickup: Pickup, probe: Probe, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)

    row = await pickup.runtime.pool.fetchrow(
        "SELECT item_number, state, first_notice_at, deadline, decided_at FROM letters WHERE letter_id = $1",
        event.correlation_id,
    )
    today = datetime.now(PARIS).date()
    assert row["item_number"] == event.item_number
    assert row["state"] == "awaiting"
    assert row["first_notice_at"] is None
    assert row["decided_at"] is None
    assert row["deadline"] == today + timedelta(days=15)

    command = SendNotice.model_validate_json(
        (await probe.wait_for(SendNotice.routing_key, event.correlation_id)).body
    )
    assert command.item_number == event.item_number
    assert command.address == DEMO_RECIPIENT.email
    assert command.deadline == today + timedelta(days=15)


async def test_the_same_letter_deposited_twice_is_kept_once_and_noticed_once(
    pickup: Pickup, probe: Probe, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    await publish(amqp_url, event)
    stats = pickup.runtime.bus.stats
    await eventually(lambda: stats.duplicates >= 1)
    await probe.wait_for(SendNotice.routing_key, event.correlation_id)
    await asyncio.sleep(0.5)

    assert await pickup.runtime.pool.fetchval("SELECT count(*) FROM letters") == 1
    assert len(probe.of(SendNotice.routing_key, event.correlation_id)) == 1


async def test_a_notice_sent_sets_first_notice_at_and_counts_the_deadline_from_its_day(
    pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    sent_at = now_utc() - timedelta(days=2)

    await record_notice(amqp_url, pickup, event, sent_at)

    row = await pickup.runtime.pool.fetchrow(
        "SELECT first_notice_at, deadline, state FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert row["first_notice_at"] == sent_at
    assert row["deadline"] == sent_at.astimezone(PARIS).date() + timedelta(days=15)
    assert row["state"] == "awaiting"


async def test_a_later_notice_sent_keeps_the_first_notice_time_and_deadline(
    pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    first = now_utc() - timedelta(days=3)
    await record_notice(amqp_url, pickup, event, first)

    await publish(amqp_url, notice_sent(event, now_utc()))
    stats = pickup.runtime.bus.stats
    await eventually(lambda: stats.handled >= 3)

    row = await pickup.runtime.pool.fetchrow(
        "SELECT first_notice_at, deadline FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert row["first_notice_at"] == first
    assert row["deadline"] == first.astimezone(PARIS).date() + timedelta(days=15)


async def test_an_earlier_notice_arriving_second_moves_the_window_to_its_day(
    pickup: Pickup, amqp_url: str
) -> None:
    # Notices reach this queue in any order (a redelivery, a replay): the window runs from
    # the earliest notice sent (CPCE R.53-3), as the archive counts it, not the first to arrive.
    event = await deposit(amqp_url, pickup)
    later = now_utc() - timedelta(days=1)
    await record_notice(amqp_url, pickup, event, later)

    earlier = now_utc() - timedelta(days=4)
    await publish(amqp_url, notice_sent(event, earlier))
    stats = pickup.runtime.bus.stats
    await eventually(lambda: stats.handled >= 3)

    row = await pickup.runtime.pool.fetchrow(
        "SELECT first_notice_at, deadline FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert row["first_notice_at"] == earlier
    assert row["deadline"] == earlier.astimezone(PARIS).date() + timedelta(days=15)


async def test_a_notice_failed_is_counted_on_the_letter(pickup: Pickup, amqp_url: str) -> None:
    event = await deposit(amqp_url, pickup)
    failed = NoticeFailed(
        correlation_id=event.correlation_id,
        notice_id=uuid.uuid4(),
        item_number=event.item_number,
        channel=NoticeChannel.email,
        address=event.recipient.email,
        reason="SMTP 550: no such user",
        permanent=True,
    )

    await publish(amqp_url, failed)

    await wait_for_row(pickup, f"letter_id = '{event.correlation_id}' AND notice_failures = 1")
    row = await pickup.runtime.pool.fetchrow(
        "SELECT state, first_notice_at FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert row["state"] == "awaiting"
    assert row["first_notice_at"] is None


# --------------------------------------------------------------------------- decisions


async def test_a_letter_is_accepted_once_and_a_second_decision_is_refused_as_already_decided(
    pickup: Pickup, probe: Probe, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    pool = pickup.runtime.pool

    accepted = await handlers.decide(storage_on(pool), event.correlation_id, True, FR_LRE)
    assert accepted.state == "accepted"
    assert accepted.decided_at is not None

    with pytest.raises(DecisionRefused, match="already decided"):
        await handlers.decide(storage_on(pool), event.correlation_id, False, FR_LRE)
    with pytest.raises(DecisionRefused, match="already decided"):
        await handlers.decide(storage_on(pool), event.correlation_id, True, FR_LRE)

    message = await probe.wait_for(LetterAccepted.routing_key, event.correlation_id)
    announced = LetterAccepted.model_validate_json(message.body)
    assert announced.item_number == event.item_number
    assert announced.accepted_at == accepted.decided_at
    await asyncio.sleep(0.5)
    assert len(probe.of(LetterAccepted.routing_key, event.correlation_id)) == 1
    assert not probe.of("letter.refused.v1", event.correlation_id)
    row = await pool.fetchrow(
        "SELECT state, decided_at FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert (row["state"], row["decided_at"]) == ("accepted", accepted.decided_at)


async def test_two_simultaneous_decisions_on_one_letter_let_exactly_one_through(
    pickup: Pickup, probe: Probe, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    pool = pickup.runtime.pool

    outcomes = await asyncio.gather(
        handlers.decide(storage_on(pool), event.correlation_id, True, FR_LRE),
        handlers.decide(storage_on(pool), event.correlation_id, False, FR_LRE),
        return_exceptions=True,
    )

    refused = [o for o in outcomes if isinstance(o, DecisionRefused)]
    assert len(refused) == 1
    assert str(refused[0]) == "already decided"
    outbox = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE routing_key IN ('letter.accepted.v1', 'letter.refused.v1')"
    )
    assert outbox == 1


async def test_deciding_after_the_window_closed_is_refused_and_changes_nothing(
    pickup: Pickup, probe: Probe, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    # Notified 16 days ago: the 15th day after the notice was yesterday (Paris).
    await record_notice(amqp_url, pickup, event, now_utc() - timedelta(days=16))

    with pytest.raises(DecisionRefused, match="window closed"):
        await handlers.decide(storage_on(pickup.runtime.pool), event.correlation_id, True, FR_LRE)

    row = await pickup.runtime.pool.fetchrow(
        "SELECT state, decided_at FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert (row["state"], row["decided_at"]) == ("awaiting", None)
    assert (
        await pickup.runtime.pool.fetchval("SELECT count(*) FROM outbox WHERE routing_key LIKE 'letter.%'")
        == 0
    )


async def test_the_fifteenth_day_after_the_notice_still_accepts(pickup: Pickup, amqp_url: str) -> None:
    event = await deposit(amqp_url, pickup)
    await record_notice(amqp_url, pickup, event, now_utc() - timedelta(days=15))

    letter = await handlers.decide(storage_on(pickup.runtime.pool), event.correlation_id, True, FR_LRE)

    assert letter.state == "accepted"
    assert letter.deadline == datetime.now(PARIS).date()


# -------------------------------------------------------------------------------- site


async def test_a_post_without_the_csrf_token_is_forbidden(
    site: httpx.AsyncClient, pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    await site.get("/")

    page = await site.post("/", data={"item_number": event.item_number})

    assert page.status_code == 403
    assert "location" not in page.headers


async def test_a_post_with_another_sessions_csrf_token_is_forbidden(
    site: httpx.AsyncClient, pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    async with pickup.browser() as other:
        token = csrf(await other.get("/"))
    await site.get("/")

    page = await site.post("/", data={"csrf_token": token, "item_number": event.item_number})

    assert page.status_code == 403


@pytest.mark.parametrize("typed", ["12345", "000000000000"], ids=["malformed", "unknown"])
async def test_a_wrong_item_number_is_shown_again_with_422_and_the_error_tied_to_the_field(
    site: httpx.AsyncClient, typed: str
) -> None:
    page = await site.get("/")

    page = await site.post("/", data={"csrf_token": csrf(page), "item_number": typed})

    assert page.status_code == 422
    field_tag = re.search(r'<input id="item_number"[^>]*>', page.text, re.DOTALL)
    assert field_tag, page.text
    described = re.search(r'aria-describedby="([^"]+)"', field_tag.group(0))
    assert described, field_tag.group(0)
    assert "item_number-error" in described.group(1).split()
    assert 'aria-invalid="true"' in field_tag.group(0)
    assert f'value="{typed}"' in field_tag.group(0)
    assert re.search(r'<p class="error" id="item_number-error">[^<]+</p>', page.text)


async def test_after_five_wrong_identities_the_item_is_locked_even_for_the_right_one(
    site: httpx.AsyncClient, pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    page = await to_identity_page(site, event.item_number)
    statuses = []
    for _ in range(5):
        page = await site.post("/identite", data={"csrf_token": csrf(page), **WRONG_IDENTITY})
        statuses.append(page.status_code)

    assert statuses == [422, 422, 422, 422, 429]
    assert "Pli verrouillé" in page.text
    page = await site.get("/identite")
    assert page.status_code == 429
    assert "Pli verrouillé" in page.text
    # The right identity no longer opens it, from this browser or a fresh one.
    page = await site.post("/identite", data={"csrf_token": csrf(await site.get("/")), **RIGHT_IDENTITY})
    assert page.status_code == 429
    async with pickup.browser() as fresh:
        page = await to_identity_page(fresh, event.item_number)
        assert page.status_code == 429
    failures = await pickup.runtime.pool.fetchval(
        "SELECT identity_failures FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert failures == 5


async def test_a_right_identity_uses_no_attempt_however_often_it_is_given(
    pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    async with pickup.browser() as first:
        page = await to_identity_page(first, event.item_number)
        for _ in range(pickup.settings.max_identity_attempts - 1):
            page = await first.post("/identite", data={"csrf_token": csrf(page), **WRONG_IDENTITY})
            assert page.status_code == 422
    for _ in range(pickup.settings.max_identity_attempts + 1):
        async with pickup.browser() as visitor:
            page = await to_identity_page(visitor, event.item_number)
            answer = await visitor.post("/identite", data={"csrf_token": csrf(page), **RIGHT_IDENTITY})
            assert answer.headers["location"] == "/decision"
    failures = await pickup.runtime.pool.fetchval(
        "SELECT identity_failures FROM letters WHERE letter_id = $1", event.correlation_id
    )
    assert failures == pickup.settings.max_identity_attempts - 1


async def test_pages_forbid_framing_through_their_content_security_policy(
    site: httpx.AsyncClient, pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    home = await site.get("/")
    invalid = await site.post("/", data={"csrf_token": csrf(home), "item_number": "1"})
    forbidden = await site.post("/", data={"item_number": "1"})
    identity = await to_identity_page(site, event.item_number)
    identity_error = await site.post("/identite", data={"csrf_token": csrf(identity), **WRONG_IDENTITY})
    static = await site.get("/static/site.css")

    pages = {
        "home": home,
        "invalid": invalid,
        "forbidden": forbidden,
        "identity": identity,
        "identity_error": identity_error,
        "static": static,
    }
    assert {name: p.status_code for name, p in pages.items()} == {
        "home": 200,
        "invalid": 422,
        "forbidden": 403,
        "identity": 200,
        "identity_error": 422,
        "static": 200,
    }
    for name, page in pages.items():
        policy = page.headers.get("content-security-policy", "")
        directives = [d.strip() for d in policy.split(";")]
        assert "frame-ancestors 'none'" in directives, name
        assert page.headers.get("x-frame-options") == "DENY", name


async def test_the_senders_name_is_never_shown_before_acceptance(
    site: httpx.AsyncClient, pickup: Pickup, amqp_url: str
) -> None:
    sender = secret_sender()
    event = await deposit(amqp_url, pickup, deposited(sender))

    seen = [await site.get("/")]
    seen.append(await site.post("/", data={"csrf_token": csrf(seen[-1]), "item_number": event.item_number}))
    seen.append(await site.get("/identite"))
    seen.append(await site.post("/identite", data={"csrf_token": csrf(seen[-1]), **WRONG_IDENTITY}))
    seen.append(await site.post("/identite", data={"csrf_token": csrf(seen[-1]), **RIGHT_IDENTITY}))
    assert seen[-1].headers["location"] == "/decision"
    seen.append(await site.get("/decision"))
    assert event.item_number in seen[-1].text
    seen.append(await site.get("/courrier"))  # not accepted yet: sent back to the decision
    assert seen[-1].headers["location"] == "/decision"

    for page in seen:
        assert sender.name not in page.text, page.url
        assert sender.email not in page.text, page.url
        assert sender.id not in page.text, page.url
        assert all(sender.name not in value for value in page.headers.values()), page.url

    accepted = await site.post("/decision", data={"csrf_token": csrf(seen[-2]), "decision": "accepter"})
    assert accepted.headers["location"] == "/signature"
    await signature.record_signature(
        storage_on(pickup.runtime.pool), event.correlation_id, SignatureMethod.certificate, "Camille Martin"
    )
    letter = await site.get("/courrier")
    assert letter.status_code == 200
    assert sender.name in letter.text


async def test_parallel_wrong_identities_cannot_test_more_guesses_than_the_attempt_limit(
    pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    browsers = [pickup.browser() for _ in range(20)]
    try:
        pages = [await to_identity_page(browser, event.item_number) for browser in browsers]
        answers = await asyncio.gather(
            *(
                browser.post("/identite", data={"csrf_token": csrf(page), **WRONG_IDENTITY})
                for browser, page in zip(browsers, pages, strict=True)
            )
        )
    finally:
        for browser in browsers:
            await browser.aclose()

    failures = await pickup.runtime.pool.fetchval(
        "SELECT identity_failures FROM letters WHERE letter_id = $1", event.correlation_id
    )
    evaluated = [a for a in answers if a.status_code == 422]
    assert failures <= pickup.settings.max_identity_attempts
    assert len(evaluated) < pickup.settings.max_identity_attempts


async def test_a_decision_taken_meanwhile_in_another_browser_gives_the_already_decided_page(
    pickup: Pickup, probe: Probe, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    async with pickup.browser() as first, pickup.browser("192.0.2.10") as second:
        first_page = await identified(first, event.item_number)
        second_page = await identified(second, event.item_number)
        refused = await first.post("/decision", data={"csrf_token": csrf(first_page), "decision": "refuser"})
        late = await second.post("/decision", data={"csrf_token": csrf(second_page), "decision": "accepter"})

    assert refused.status_code == 200
    assert "<h1>Courrier refusé</h1>" in refused.text
    assert late.status_code == 409
    assert "<h1>Courrier déjà traité</h1>" in late.text
    assert "Ce courrier a déjà été refusé." in late.text
    assert event.sender.name not in late.text
    await probe.wait_for(LetterRefused.routing_key, event.correlation_id)
    await asyncio.sleep(0.5)
    assert not probe.of(LetterAccepted.routing_key, event.correlation_id)


async def test_the_pickup_funnel_counts_each_step_a_recipient_passes(pickup: Pickup, amqp_url: str) -> None:
    def counts() -> dict[str, float]:
        return {
            step: metrics.PICKUP_FUNNEL.labels(step=step)._value.get()
            for step in ("item_number", "identity", "accepted", "refused", "signed")
        }

    event = await deposit(amqp_url, pickup)
    before = counts()
    async with pickup.browser() as site:
        page = await to_identity_page(site, event.item_number)
        await site.post("/identite", data={"csrf_token": csrf(page), **WRONG_IDENTITY})
        await accepted(site, event.item_number)
    after = counts()

    # Two visits to the item-number step, one identity passed (the wrong one is not), one acceptance.
    assert {step: after[step] - before[step] for step in after} == {
        "item_number": 2,
        "identity": 1,
        "accepted": 1,
        "refused": 0,
        "signed": 0,
    }
