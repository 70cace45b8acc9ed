"""The identity step on the real site: names in any script are compared letter for letter,
careless typing costs no attempt, and a form with a required field lacking any letter or
digit is asked for again, naming the field, without counting as a wrong identity."""

from __future__ import annotations

import httpx
import pytest

from deploy.local.demo import DEMO_RECIPIENT
from services.pickup.tests.integration.recipients import (
    RIGHT_IDENTITY,
    Pickup,
    csrf,
    deposit,
    deposited,
    error_of,
    to_identity_page,
)

pytestmark = pytest.mark.integration


async def identity_failures(pickup: Pickup, item_number: str) -> int:
    failures: int = await pickup.runtime.pool.fetchval(
        "SELECT identity_failures FROM letters WHERE item_number = $1", item_number
    )
    return failures


async def answer(site: httpx.AsyncClient, item_number: str, identity: dict[str, str]) -> httpx.Response:
    page = await to_identity_page(site, item_number)
    return await site.post("/identite", data={"csrf_token": csrf(page), **identity})


async def test_a_recipient_named_in_chinese_characters_is_not_matched_by_another_name(
    site: httpx.AsyncClient, pickup: Pickup, amqp_url: str
) -> None:
    recipient = DEMO_RECIPIENT.model_copy(update={"company": None, "last_name": "王", "first_name": "小明"})
    event = await deposit(amqp_url, pickup, deposited(recipient=recipient))
    declared = {**RIGHT_IDENTITY, "company": "", "last_name": "王", "first_name": "小明"}

    wrong = await answer(site, event.item_number, {**declared, "last_name": "李", "first_name": "大伟"})
    right = await answer(site, event.item_number, declared)

    assert wrong.status_code == 422
    assert "Ces coordonnées ne correspondent pas" in wrong.text
    assert right.headers.get("location") == "/decision"
    assert await identity_failures(pickup, event.item_number) == 1


async def test_careless_typing_of_the_right_identity_passes_without_using_an_attempt(
    site: httpx.AsyncClient, pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)
    careless = {
        **RIGHT_IDENTITY,
        "company": "SOCIETE EXEMPLE S.A.S.",
        "first_name": "camille",
        "address": "12 Av. de l'Opera",
        "postcode": "75 001",
    }

    page = await answer(site, event.item_number, careless)

    assert page.headers.get("location") == "/decision", page.text
    assert await identity_failures(pickup, event.item_number) == 0


async def test_a_required_field_without_letters_or_digits_is_asked_for_again_and_costs_no_attempt(
    site: httpx.AsyncClient, pickup: Pickup, amqp_url: str
) -> None:
    event = await deposit(amqp_url, pickup)

    page = await answer(site, event.item_number, {**RIGHT_IDENTITY, "last_name": "-"})

    assert page.status_code == 422
    assert error_of(page, "last_name") == (
        "Le champ « Nom » ne contient ni lettre ni chiffre : renseignez-le comme sur vos papiers."
    )
    assert "Ces coordonnées ne correspondent pas" not in page.text
    assert await identity_failures(pickup, event.item_number) == 0
    assert await pickup.runtime.pool.fetchval("SELECT count(*) FROM address_failures") == 0


async def test_a_declared_name_without_letters_is_never_matched_on_the_site(
    site: httpx.AsyncClient, pickup: Pickup, amqp_url: str
) -> None:
    recipient = DEMO_RECIPIENT.model_copy(update={"last_name": "-", "first_name": "-"})
    event = await deposit(amqp_url, pickup, deposited(recipient=recipient))

    dashes = await answer(site, event.item_number, {**RIGHT_IDENTITY, "last_name": "-", "first_name": "-"})
    named = await answer(site, event.item_number, {**RIGHT_IDENTITY, "last_name": "X", "first_name": "Y"})

    assert dashes.status_code == 422  # asked for again, not judged
    assert named.status_code == 422
    assert "Ces coordonnées ne correspondent pas" in named.text
    assert await identity_failures(pickup, event.item_number) == 1
