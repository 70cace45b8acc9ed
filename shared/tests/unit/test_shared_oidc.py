"""The OpenID Connect relying party (`lre_shared.oidc`): the discovery document held to its
issuer, the authorization request with state, nonce and PKCE, the code exchanged with the
client's secret, the ID token's signature, issuer, audience, expiry, nonce and authorized party
checked against the provider's published keys, and the end-session URL."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest

from lre_shared.oidc import CodeRefused, IdTokenRefused, ProviderUnreachable, RelyingParty
from tests.support.oidc_answers import (
    CLIENT,
    ISSUER,
    KEY,
    OTHER_KEY,
    SECRET,
    FakeProvider,
    discovery,
    id_token,
    jwks,
)

NONCE = "this sign-in's nonce"


def party(provider: FakeProvider, secret: str = SECRET) -> RelyingParty:
    return RelyingParty(
        issuer=ISSUER,
        client_id=CLIENT,
        client_secret=secret,
        algorithms=("RS256", "ES256"),
        leeway=60,
        timeout=5.0,
        transport=provider.transport(),
    )


async def test_the_authorization_request_carries_state_nonce_pkce_and_the_callers_parameters() -> None:
    url = httpx.URL(
        await party(FakeProvider()).authorization_url(
            redirect_uri="https://lre.example/cb",
            scope="openid profile",
            state="the-state",
            nonce=NONCE,
            code_challenge="the-challenge",
            extra={"acr_values": "eidas2"},
        )
    )
    query = dict(url.params)
    assert url.path == "/auth"
    assert (query["state"], query["nonce"], query["client_id"]) == ("the-state", NONCE, CLIENT)
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] == "the-challenge"
    assert (query["scope"], query["redirect_uri"]) == ("openid profile", "https://lre.example/cb")
    assert query["acr_values"] == "eidas2"


async def test_a_discovery_document_naming_another_issuer_is_not_believed() -> None:
    provider = FakeProvider(document=discovery(issuer="https://evil.example"))
    with pytest.raises(ProviderUnreachable, match="another issuer"):
        await party(provider).discovery()


async def test_the_discovery_document_is_read_once() -> None:
    provider = FakeProvider()
    rp = party(provider)
    await rp.discovery()
    await rp.discovery()
    assert len(provider.calls("/.well-known/openid-configuration")) == 1


async def test_the_code_is_exchanged_with_the_form_encoded_secret_and_the_verifier() -> None:
    provider = FakeProvider(token=id_token(NONCE))
    body = await party(provider, secret="s3cret with spaces&more").exchange(
        "the-code", "the-verifier", "https://x/cb", {"resource": "https://api.example"}
    )
    assert body["id_token"] == provider.token
    [call] = provider.calls("/token")
    # client_secret_basic, RFC 6749 §2.3.1: each part form-encoded inside Basic.
    basic = base64.b64decode(call.headers["authorization"].removeprefix("Basic ")).decode()
    assert basic == f"{CLIENT}:s3cret+with+spaces%26more"
    assert unquote_plus(basic.partition(":")[2]) == "s3cret with spaces&more"
    form = dict(httpx.QueryParams(call.content.decode()))
    assert form["code"] == "the-code" and form["code_verifier"] == "the-verifier"
    assert form["grant_type"] == "authorization_code" and form["resource"] == "https://api.example"


async def test_a_refused_code_says_the_status_and_the_oauth_error() -> None:
    with pytest.raises(CodeRefused) as refused:
        await party(FakeProvider()).exchange("c", "v", "https://x/cb")
    assert (refused.value.status, refused.value.error) == (400, "invalid_grant")


async def test_a_verified_id_token_gives_its_claims() -> None:
    claims = await party(FakeProvider()).verify_id_token(id_token(NONCE), NONCE)
    assert (claims["iss"], claims["sub"], claims["aud"]) == (ISSUER, "fc-camille", CLIENT)


@pytest.mark.parametrize(
    ("changes", "key", "alg"),
    [
        ({"aud": "another-client"}, KEY, "RS256"),
        ({"iss": "https://evil.example"}, KEY, "RS256"),
        ({"exp": int(time.time()) - 3600}, KEY, "RS256"),
        ({"iat": None}, KEY, "RS256"),
        ({}, OTHER_KEY, "RS256"),  # not signed with the provider's key
        ({}, SECRET, "HS256"),  # signed with our own client secret
        ({}, KEY, "PS256"),  # an algorithm the key was not published for
    ],
    ids=["audience", "issuer", "expired", "no-iat", "signature", "symmetric", "other-algorithm"],
)
async def test_an_id_token_that_does_not_hold_is_refused(changes: dict[str, Any], key: Any, alg: str) -> None:
    with pytest.raises(IdTokenRefused) as refused:
        await party(FakeProvider()).verify_id_token(id_token(NONCE, key, alg, **changes), NONCE)
    assert refused.value.claim is None


async def test_an_id_token_of_another_sign_in_is_refused_for_its_nonce() -> None:
    with pytest.raises(IdTokenRefused) as refused:
        await party(FakeProvider()).verify_id_token(id_token("another sign-in's nonce"), NONCE)
    assert refused.value.claim == "nonce"


async def test_an_id_token_for_several_audiences_must_name_us_as_its_authorized_party() -> None:
    rp, audiences = party(FakeProvider()), [CLIENT, "another-client"]
    with pytest.raises(IdTokenRefused) as refused:
        await rp.verify_id_token(id_token(NONCE, aud=audiences, azp="another-client"), NONCE)
    assert refused.value.claim == "azp"
    assert (await rp.verify_id_token(id_token(NONCE, aud=audiences, azp=CLIENT), NONCE))["azp"] == CLIENT


async def test_keys_are_read_again_when_a_token_names_a_new_one() -> None:
    provider = FakeProvider()
    rp = party(provider)
    await rp.verify_id_token(id_token(NONCE), NONCE)
    await rp.verify_id_token(id_token(NONCE), NONCE)
    assert len(provider.calls("/jwks")) == 1  # kept
    provider.keys = jwks(OTHER_KEY, "k2")  # the provider rotated its keys
    await rp.verify_id_token(id_token(NONCE, OTHER_KEY, kid="k2"), NONCE)
    assert len(provider.calls("/jwks")) == 2
    with pytest.raises(IdTokenRefused, match="no signing key k1"):
        await rp.verify_id_token(id_token(NONCE), NONCE)  # the old key is gone


async def test_an_unreachable_provider_is_told_apart_from_a_bad_token() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    rp = RelyingParty(
        issuer=ISSUER,
        client_id=CLIENT,
        client_secret=SECRET,
        algorithms=("RS256",),
        leeway=60,
        timeout=5.0,
        transport=httpx.MockTransport(down),
    )
    with pytest.raises(ProviderUnreachable, match="did not answer"):
        await rp.verify_id_token(id_token(NONCE), NONCE)


async def test_the_end_session_url_hints_the_id_token_and_where_to_come_back() -> None:
    url = await party(FakeProvider()).end_session_url("the-id-token", "https://desk.example/desk/")
    assert url is not None
    query = dict(httpx.URL(url).params)
    assert url.startswith(ISSUER + "/session/end?")
    assert query == {
        "id_token_hint": "the-id-token",
        "post_logout_redirect_uri": "https://desk.example/desk/",
        "client_id": CLIENT,
    }


async def test_no_end_session_url_when_the_provider_has_none() -> None:
    document = discovery()
    del document["end_session_endpoint"]
    assert await party(FakeProvider(document=document)).end_session_url("t", "https://x/") is None
