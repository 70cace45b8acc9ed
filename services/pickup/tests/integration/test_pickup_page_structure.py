"""Every page, in each state, is built the same accessible way: the language declared, one
h1, usable on a phone (viewport), every field with its label, errors in a summary with
role=alert and tied to their fields, no inline script, and the switch to the other language
(a posted form, with the CSRF token and the page to come back to)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
import pytest

from lre_shared.contracts import SignatureMethod, now_utc
from pickup.adapters.postgres import storage_on
from pickup.service_layer import signature
from services.pickup.tests.integration.recipients import (
    WRONG_IDENTITY,
    Pickup,
    accepted,
    csrf,
    deposit,
    identified,
    record_notice,
    switch_language,
    to_identity_page,
)

pytestmark = pytest.mark.integration


async def with_case(pickup: Pickup, letter_id: uuid.UUID, state: str, channel: str = "upload") -> None:
    await pickup.runtime.pool.execute(
        "INSERT INTO verification_cases (letter_id, case_id, reference, state, reason,"
        " document_channel, code_channel, inbound_email)"
        " VALUES ($1, $2, 'LRE-AB12CD', $3, 'motif', $4, 'email', 'id@lre.example')"
        " ON CONFLICT (letter_id) DO UPDATE SET state = EXCLUDED.state",
        letter_id,
        uuid.uuid4(),
        state,
        channel,
    )


async def every_page(pickup: Pickup) -> dict[str, httpx.Response]:
    pages: dict[str, httpx.Response] = {}
    async with pickup.browser() as site:
        pages["item number"] = await site.get("/")
        pages["item number, wrong"] = await site.post(
            "/", data={"csrf_token": csrf(pages["item number"]), "item_number": "12"}
        )
        pages["session expired"] = await site.post("/", data={"item_number": "12"})
        event = await deposit(pickup.amqp_url, pickup)
        pages["identity"] = await to_identity_page(site, event.item_number)
        pages["identity, wrong"] = await site.post(
            "/identite", data={"csrf_token": csrf(pages["identity"]), **WRONG_IDENTITY}
        )
        pages["identity, missing"] = await site.post(
            "/identite", data={"csrf_token": csrf(pages["identity"])}
        )
    async with pickup.browser() as site:
        pages["decision"] = await identified(site, event.item_number)
        pages["signature"] = await accepted(site, event.item_number)
        pages["certificate"] = await site.get("/signature/certificat")
        pages["certificate, not a pdf"] = await site.post(
            "/signature/certificat",
            data={"csrf_token": csrf(pages["certificate"])},
            files={"receipt": ("a.txt", b"text", "text/plain")},
        )
        pages["code request"] = await site.get("/signature/code")
        pages["code request, nothing chosen"] = await site.post(
            "/signature/code", data={"csrf_token": csrf(pages["code request"])}
        )
        await with_case(pickup, event.correlation_id, "awaiting_documents")
        pages["documents"] = await site.get("/signature/code/justificatifs")
        await with_case(pickup, event.correlation_id, "pending", channel="email")
        pages["waiting"] = await site.get("/signature/code/attente")
        await with_case(pickup, event.correlation_id, "more_documents")
        pages["more documents"] = await site.get("/signature/code/attente")
        await with_case(pickup, event.correlation_id, "rejected")
        pages["identity rejected"] = await site.get("/signature/code/attente")
        await with_case(pickup, event.correlation_id, "approved")
        pages["code entry"] = await site.get("/signature/code/saisie")
        pages["code entry, empty"] = await site.post(
            "/signature/code/saisie", data={"csrf_token": csrf(pages["code entry"])}
        )
        await signature.record_signature(
            storage_on(pickup.runtime.pool),
            event.correlation_id,
            SignatureMethod.one_time_code,
            "Camille Martin",
        )
        pages["letter"] = await site.get("/courrier")
        pages["document unknown"] = await site.get(f"/courrier/documents/{uuid.uuid4()}")
        pickup.clock.move(timedelta(hours=49))
        pages["download window over"] = await site.get("/courrier")
        pickup.clock.move(-timedelta(hours=49))
        switched = await switch_language(site, pages["letter"], "en")
        pages["english letter"] = await site.get(switched.headers["location"])
    refused = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        page = await identified(site, refused.item_number)
        pages["refused"] = await site.post(
            "/decision", data={"csrf_token": csrf(page), "decision": "refuser"}
        )
    late = await deposit(pickup.amqp_url, pickup)
    await record_notice(pickup.amqp_url, pickup, late, now_utc() - timedelta(days=17))
    async with pickup.browser() as site:
        pages["unclaimed"] = await identified(site, late.item_number)
    locked = await deposit(pickup.amqp_url, pickup)
    async with pickup.browser() as site:
        page = await to_identity_page(site, locked.item_number)
        for _ in range(pickup.settings.max_identity_attempts):
            page = await site.post("/identite", data={"csrf_token": csrf(page), **WRONG_IDENTITY})
        pages["locked"] = page
    return pages


def labelled_fields(html: str) -> list[tuple[str, bool]]:
    ids = re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html)
    return [(i, f'<label for="{i}">' in html) for i in ids]


async def test_every_page_declares_its_language_has_one_h1_and_labels_every_field(pickup: Pickup) -> None:
    pages = await every_page(pickup)

    for name, page in pages.items():
        assert page.headers["content-type"].startswith("text/html"), name
        text = page.text
        assert re.search(r'<html lang="(fr|en)">', text), name
        assert len(re.findall(r"<h1[ >]", text)) == 1, name
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text, name
        assert all(labelled for _, labelled in labelled_fields(text)), (name, labelled_fields(text))
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), name  # no inline script
        assert ' style="' not in text, name
        switch = re.search(
            r'<form class="language" method="post" action="/langue/(?:en|fr)">(.*?)</form>', text, re.S
        )
        assert switch, name
        assert f'name="csrf_token" value="{csrf(page)}"' in switch.group(1), name
        assert f'name="retour" value="{page.url.path}"' in switch.group(1), name
        if page.status_code == 422:
            assert 'class="error-summary" role="alert"' in text, name
            for field_id in re.findall(r'<p class="error" id="([^"]+)-error">', text):
                assert re.search(rf'id="{field_id}"[^>]*aria-describedby="[^"]*{field_id}-error', text), name
    assert '<html lang="en">' in pages["english letter"].text
    assert {name: page.status_code for name, page in pages.items() if page.status_code >= 400} == {
        "item number, wrong": 422,
        "session expired": 403,
        "identity, wrong": 422,
        "identity, missing": 422,
        "certificate, not a pdf": 422,
        "code request, nothing chosen": 422,
        "code entry, empty": 422,
        "document unknown": 404,
        "download window over": 410,
        "locked": 429,
    }
