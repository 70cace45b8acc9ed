"""The desk console's client of the organisation's provider (`adapters.oidc`): the resource
asked for the API's tokens, and what each failure of `lre_shared.oidc` becomes for the person
signing in (a sign-in to start again) or for the operator (a provider that does not answer).
The relying party itself is specified in shared/tests/unit/test_shared_oidc.py."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from lre_shared.oidc import RelyingParty
from tests.support.oidc_answers import CLIENT, ISSUER, SECRET, FakeProvider, id_token
from verification.adapters.agents import ALGORITHMS, CLOCK_SKEW_SECONDS
from verification.adapters.oidc import OidcProvider
from verification.service_layer.desk_sessions import ProviderUnavailable, SignInRefused

NONCE = "this sign-in's nonce"
API = "https://desk.example/desk/api"


def console(answers: FakeProvider | httpx.MockTransport) -> OidcProvider:
    party = RelyingParty(
        issuer=ISSUER,
        client_id=CLIENT,
        client_secret=SECRET,
        algorithms=ALGORITHMS,
        leeway=CLOCK_SKEW_SECONDS,
        timeout=5.0,
        transport=answers.transport() if isinstance(answers, FakeProvider) else answers,
    )
    return OidcProvider(
        party,
        redirect_uri="https://desk.example/desk/auth/callback",
        signed_out_uri="https://desk.example/desk/",
        scope="openid profile",
        resource=API,
    )


async def test_the_api_is_asked_by_resource_at_sign_in_and_at_the_code_exchange() -> None:
    answers = FakeProvider(token=id_token(NONCE))
    provider = console(answers)
    url = httpx.URL(await provider.authorization_url("s", NONCE, "challenge"))
    assert url.params["resource"] == API
    tokens = await provider.exchange("the-code", "the-verifier")
    assert (tokens.id_token, tokens.access_token) == (answers.token, "a")
    [call] = answers.calls("/token")
    assert dict(httpx.QueryParams(call.content.decode()))["resource"] == API


async def test_a_code_the_provider_does_not_take_is_a_sign_in_to_start_again() -> None:
    with pytest.raises(SignInRefused, match="did not take this sign-in's code") as refused:
        await console(FakeProvider()).exchange("used-twice", "v")
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nonce": "another sign-in's nonce"}, "not the one of this sign-in (nonce)"),
        ({"aud": [CLIENT, "other"], "azp": "other"}, "issued to another client (azp)"),
        ({"aud": "another-client"}, "ID token is not valid"),
    ],
    ids=["nonce", "azp", "audience"],
)
async def test_an_id_token_that_does_not_hold_is_a_sign_in_to_start_again(
    changes: dict[str, Any], reason: str
) -> None:
    token = id_token(**({"nonce": NONCE} | changes))
    with pytest.raises(SignInRefused, match=re.escape(reason)) as refused:
        await console(FakeProvider()).verify_id_token(token, NONCE)
    assert refused.value.status == 400 and refused.value.reason.endswith("start again")


async def test_a_provider_that_does_not_answer_is_unavailable_and_sign_out_stays_local() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    provider = console(httpx.MockTransport(down))
    with pytest.raises(ProviderUnavailable):
        await provider.authorization_url("s", NONCE, "challenge")
    assert await provider.end_session_url("the-id-token") is None
