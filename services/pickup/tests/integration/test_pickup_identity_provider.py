"""The pickup site as a confidential client of a real OpenID provider (the npm
`oidc-provider` of deploy/local/oidc.py), with a real PostgreSQL and RabbitMQ: the sign-in
signs the AR where the sender allowed it, the state is single use and bound to the session
that started it, a sign-in at level low is refused, and so is one born another day than the
recipient the sender declared (CPCE R.53-1)."""

from __future__ import annotations

import html
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from deploy.local import oidc
from deploy.local.demo import DEMO_RECIPIENT
from lre_shared.contracts import ReceiptSigned, Recipient, RecipientIdentified, SignatureMethod
from lre_shared.topology import Service, events_exchange
from services.pickup.tests.integration.recipients import (
    Pickup,
    accepted,
    csrf,
    deposit,
    deposited,
    identified,
    started_pickup,
)
from tests.support.bus import Probe, open_probe
from tests.support.oidc import follow_sign_in
from tests.support.pki import free_port

pytestmark = pytest.mark.integration

PUBLIC_URL = "https://lre.example"
CALLBACK = PUBLIC_URL + oidc.PICKUP_CALLBACK


@dataclass(frozen=True)
class Provider:
    issuer: str
    secret: str


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    state: Path = tmp_path_factory.mktemp("oidc")
    secret = secrets.token_urlsafe(24)
    port = free_port()
    client = oidc.confidential_client(oidc.PICKUP_CLIENT_ID, secret, [CALLBACK])
    process = oidc.start_oidc(port, [client], state, state / "oidc.log")
    try:
        yield Provider(oidc.issuer(port), secret)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def pickup_with_provider(amqp_url: str, database_url: str, provider: Provider) -> AsyncIterator[Pickup]:
    async with started_pickup(
        amqp_url,
        database_url,
        identity_provider_issuer=provider.issuer,
        identity_provider_client_id=oidc.PICKUP_CLIENT_ID,
        identity_provider_client_secret=provider.secret,
        identity_provider_name="Fournisseur de test",
        identity_provider_scopes=("openid", "profile"),
    ) as running:
        yield running


@pytest.fixture
async def events(amqp_url: str) -> AsyncIterator[Probe]:
    exchange = events_exchange(Service.pickup)
    async with open_probe(
        amqp_url, (exchange, RecipientIdentified.routing_key), (exchange, ReceiptSigned.routing_key)
    ) as found:
        yield found


async def sign_in_started(site: httpx.AsyncClient, item_number: str) -> str:
    """Accept the letter and press the provider's button: where the site sends the browser."""
    page = await accepted(site, item_number)
    assert "Prouver mon identité avec Fournisseur de test" in page.text
    started = await site.post("/identite/fournisseur", data={"csrf_token": csrf(page)})
    assert started.status_code == 303, started.text
    return started.headers["location"]


def at_provider(provider: Provider, start: str, username: str, password: str) -> str:
    """Sign in on the provider's form; the callback URL it sends the browser back to."""
    with httpx.Client(timeout=30) as browser:
        return follow_sign_in(browser, start, provider.issuer, username, password, CALLBACK)


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_a_sign_in_signs_the_ar_once_and_its_state_cannot_be_used_again(
    pickup_with_provider: Pickup, provider: Provider, events: Probe
) -> None:
    pickup = pickup_with_provider
    letter = await deposit(pickup.amqp_url, pickup, deposited(methods=(SignatureMethod.identity_provider,)))
    async with pickup.browser() as site:
        start = await sign_in_started(site, letter.item_number)
        assert start.startswith(provider.issuer + "/auth?")
        back = at_provider(provider, start, "camille", "camille-test")
        signed = await site.get(local(back))
        replayed = await site.get(local(back))

    assert (signed.status_code, signed.headers.get("location")) == (303, "/courrier")
    identified = RecipientIdentified.model_validate_json(
        (await events.wait_for(RecipientIdentified.routing_key, letter.correlation_id)).body
    )
    assert (identified.issuer, identified.subject, identified.acr) == (
        provider.issuer,
        "fc-camille-martin",
        "eidas2",
    )
    assert identified.outcome == "matched"
    receipt = ReceiptSigned.model_validate_json(
        (await events.wait_for(ReceiptSigned.routing_key, letter.correlation_id)).body
    )
    assert receipt.method is SignatureMethod.identity_provider
    # The same callback again (a reload, or a copy): the letter is signed and moved on.
    assert replayed.status_code in (303, 400)
    assert len(events.of(ReceiptSigned.routing_key, letter.correlation_id)) == 1


async def test_a_callback_in_another_session_is_refused(
    pickup_with_provider: Pickup, provider: Provider, events: Probe
) -> None:
    pickup = pickup_with_provider
    letter = await deposit(pickup.amqp_url, pickup, deposited(methods=(SignatureMethod.identity_provider,)))
    async with pickup.browser() as site:
        start = await sign_in_started(site, letter.item_number)
    back = at_provider(provider, start, "camille", "camille-test")
    # Someone else identified for the same letter (their own session) gets the callback URL.
    async with pickup.browser() as other:
        await identified(other, letter.item_number)  # the letter is accepted already: on to /signature
        refused = await other.get(local(back))
    assert refused.status_code == 400
    assert "Identification expirée" in refused.text
    assert events.of(ReceiptSigned.routing_key, letter.correlation_id) == []


async def test_a_sign_in_at_level_low_is_refused(
    pickup_with_provider: Pickup, provider: Provider, events: Probe
) -> None:
    pickup = pickup_with_provider
    letter = await deposit(pickup.amqp_url, pickup, deposited(methods=(SignatureMethod.identity_provider,)))
    async with pickup.browser() as site:
        start = await sign_in_started(site, letter.item_number)
        page = await site.get(local(at_provider(provider, start, "camille-low", "camille-test")))
        still = await site.get("/signature")
    assert page.status_code == 403
    assert "Niveau d'identification insuffisant" in html.unescape(page.text)
    assert still.status_code == 200  # not signed: still at the signing step
    identified = RecipientIdentified.model_validate_json(
        (await events.wait_for(RecipientIdentified.routing_key, letter.correlation_id)).body
    )
    assert (identified.acr, identified.outcome) == ("eidas1", "insufficient_level")
    assert events.of(ReceiptSigned.routing_key, letter.correlation_id) == []


def born_on(birth_date: str) -> Recipient:
    """The demo letter's recipient (Camille Martin), declared born on `birth_date`."""
    return Recipient.model_validate(DEMO_RECIPIENT.model_dump() | {"birth_date": birth_date})


async def test_a_sign_in_under_the_right_names_but_another_birth_date_is_not_the_recipient(
    pickup_with_provider: Pickup, provider: Provider, events: Probe
) -> None:
    """The provider's `camille` is born on 1990-04-12; the letter's Camille Martin on
    1991-04-12: a namesake, so nothing is signed."""
    pickup = pickup_with_provider
    letter = await deposit(
        pickup.amqp_url,
        pickup,
        deposited(recipient=born_on("1991-04-12"), methods=(SignatureMethod.identity_provider,)),
    )
    async with pickup.browser() as site:
        start = await sign_in_started(site, letter.item_number)
        page = await site.get(local(at_provider(provider, start, "camille", "camille-test")))
        still = await site.get("/signature")

    assert page.status_code == 403
    assert still.status_code == 200  # not signed: still at the signing step
    identified = RecipientIdentified.model_validate_json(
        (await events.wait_for(RecipientIdentified.routing_key, letter.correlation_id)).body
    )
    assert (identified.outcome, identified.reason) == (
        "mismatched",
        "identity provider gives another birth date for MARTIN Camille Marie than the letter declares",
    )
    assert events.of(ReceiptSigned.routing_key, letter.correlation_id) == []


async def test_a_sign_in_born_on_the_declared_birth_date_signs_the_ar(
    pickup_with_provider: Pickup, provider: Provider, events: Probe
) -> None:
    """The birth date the letter keeps is compared as the provider gives it: ISO YYYY-MM-DD."""
    pickup = pickup_with_provider
    letter = await deposit(
        pickup.amqp_url,
        pickup,
        deposited(recipient=born_on("1990-04-12"), methods=(SignatureMethod.identity_provider,)),
    )
    kept = await pickup.runtime.pool.fetchval(
        "SELECT recipient->>'birth_date' FROM letters WHERE letter_id = $1", letter.correlation_id
    )
    assert kept == "1990-04-12"
    async with pickup.browser() as site:
        start = await sign_in_started(site, letter.item_number)
        signed = await site.get(local(at_provider(provider, start, "camille", "camille-test")))

    assert (signed.status_code, signed.headers.get("location")) == (303, "/courrier")
    identified = RecipientIdentified.model_validate_json(
        (await events.wait_for(RecipientIdentified.routing_key, letter.correlation_id)).body
    )
    assert identified.outcome == "matched"
    await events.wait_for(ReceiptSigned.routing_key, letter.correlation_id)
