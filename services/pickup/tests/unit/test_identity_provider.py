"""Recipients proving their identity through an identity provider (CPCE R.53-1): the names
matched with the identity form's tolerant rules, the eIDAS level checked, the ID token's
audience, expiry and nonce checked, the state single use, and what a sign-in
leads to under the sender's choice of signature methods."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import uuid4

import httpx
import pytest

from lre_shared.contracts import (
    IdentificationOutcome,
    IdentifyWithProvider,
    Message,
    ReceiptSigned,
    Recipient,
    RecipientIdentified,
    SignatureMethod,
    VerificationCaseOpened,
)
from lre_shared.oidc import RelyingParty
from pickup.adapters.oidc import ALGORITHMS, CLOCK_SKEW_SECONDS, OidcProvider
from pickup.bootstrap import recipients_provider
from pickup.domain.identity import level_accepted, provider_mismatch
from pickup.domain.provider import IdentityRequest, ProviderIdentity, new_request
from pickup.service_layer import identity_provider
from pickup.service_layer.ports import ProviderFailed
from pickup.settings import PickupSettings
from services.pickup.tests.unit.fakes import FakeStorage, a_letter
from tests.support.oidc_answers import CLIENT, ISSUER, SECRET, FakeProvider, id_token

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
DECLARED = {"first_name": "Camille", "last_name": "Martin", "email": "camille@example.org"}
R = TypeVar("R", bound=Message)


# ------------------------------------------------------------------ matching the names


@pytest.mark.parametrize(
    "claims",
    [
        {
            "family_name": "MARTIN",
            "given_name": "Camille Marie",
        },  # every given name, as FranceConnect gives them
        {"family_name": "martin", "given_name": "camille"},
        {"family_name": "MARTÍN", "given_name": "Camílle"},  # accents do not matter
        {"family_name": "DUPONT", "preferred_username": "Martin", "given_name": "Camille"},  # name in use
        {"family_name": "MARTIN", "given_name": "Anne Camille"},  # the declared one need not be first
    ],
)
def test_the_providers_names_match_the_recipient_with_the_identity_forms_rules(
    claims: dict[str, str],
) -> None:
    assert provider_mismatch(DECLARED, claims) is None


def test_another_person_is_named_in_the_reason_with_the_letters_names() -> None:
    reason = provider_mismatch(DECLARED, {"family_name": "DURAND", "given_name": "Dominique"})
    assert reason == "identity provider names DURAND Dominique; the letter names MARTIN Camille"


@pytest.mark.parametrize(
    "claims",
    [
        {"family_name": "MARTIN", "given_name": "Marie"},  # another given name
        {"family_name": "MARTINEZ", "given_name": "Camille"},
        {"family_name": "MARTIN", "given_name": "Camillette"},  # a given name is matched whole
    ],
)
def test_a_close_name_is_not_a_match(claims: dict[str, str]) -> None:
    assert provider_mismatch(DECLARED, claims) is not None


def test_missing_names_are_a_mismatch_that_says_which() -> None:
    reason = provider_mismatch(DECLARED, {"family_name": "MARTIN"})
    assert reason is not None and "no given_name" in reason


def test_a_declared_birth_date_must_be_the_providers() -> None:
    declared = DECLARED | {"birthdate": "1990-04-12"}
    names = {"family_name": "MARTIN", "given_name": "Camille"}
    assert provider_mismatch(declared, names | {"birthdate": "1990-04-12"}) is None
    assert provider_mismatch(declared, names | {"birthdate": "1991-04-12"}) is not None
    assert provider_mismatch(declared, names) is not None  # not given: not proved


@pytest.mark.parametrize(
    ("acr", "accepted"), [("eidas2", True), ("eidas3", True), ("eidas1", False), (None, False)]
)
def test_only_substantial_and_high_levels_identify_a_recipient(acr: str | None, accepted: bool) -> None:
    assert level_accepted(acr, ("eidas2", "eidas3")) is accepted


# ------------------------------------------------------------------ the provider's client
# (the relying party itself is specified in shared/tests/unit/test_shared_oidc.py)


def provider_answering(token: str | None, seen: FakeProvider | None = None) -> OidcProvider:
    answers = seen or FakeProvider()
    answers.token = token
    party = RelyingParty(
        issuer=ISSUER,
        client_id=CLIENT,
        client_secret=SECRET,
        algorithms=ALGORITHMS,
        leeway=CLOCK_SKEW_SECONDS,
        timeout=5.0,
        transport=answers.transport(),
    )
    return OidcProvider(party, scopes=("openid", "profile"), acr_values=("eidas2", "eidas3"))


def settings_with(**provider: Any) -> PickupSettings:
    return PickupSettings(
        amqp_url="amqp://guest:guest@localhost/",
        database_url="postgresql://localhost/pickup",
        public_url="https://lre.example/",
        session_secret="s" * 32,
        **({"identity_provider_issuer": None} | provider),
    )


def test_the_provider_is_wired_from_the_settings_only_when_they_name_one() -> None:
    assert recipients_provider(settings_with()) is None
    provider = recipients_provider(
        settings_with(
            identity_provider_issuer=ISSUER + "/",
            identity_provider_client_id=CLIENT,
            identity_provider_client_secret=SECRET,
            identity_provider_scopes=("openid", "profile"),
            request_timeout_seconds=7.5,
        )
    )
    assert provider is not None
    assert (provider.scopes, provider.acr_values) == (("openid", "profile"), ("eidas2", "eidas3"))
    party = provider._party
    assert (party.issuer, party.client_id, party.client_secret) == (ISSUER, CLIENT, SECRET)
    assert (party.algorithms, party.leeway, party.timeout) == (ALGORITHMS, CLOCK_SKEW_SECONDS, 7.5)


def a_request() -> IdentityRequest:
    return new_request("sid", uuid4(), "signature", "email", NOW)


def recipients_id_token(request: IdentityRequest, **changes: Any) -> str:
    names = {"family_name": "MARTIN", "given_name": "Camille Marie", "birthdate": "1990-04-12"}
    return id_token(**({"nonce": request.nonce, "acr": "eidas2"} | names | changes))


async def test_the_authorization_request_asks_the_levels_and_a_fresh_sign_in() -> None:
    request = a_request()
    url = httpx.URL(
        await provider_answering(None).authorization_url(request, "https://lre.example/identite/retour")
    )
    query = dict(url.params)
    assert (query["state"], query["nonce"]) == (request.state, request.nonce)
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] == request.code_challenge
    assert request.code_verifier not in str(url)
    assert query["acr_values"] == "eidas2 eidas3" and query["client_id"] == CLIENT
    assert (query["prompt"], query["max_age"], query["scope"]) == ("login", "300", "openid profile")


async def test_a_verified_id_token_gives_who_signed_in_and_the_code_is_exchanged_with_the_secret() -> None:
    request, answers = a_request(), FakeProvider()
    provider = provider_answering(recipients_id_token(request), answers)
    identity = await provider.identify(request, "the-code", "https://x/cb")
    assert (identity.issuer, identity.subject, identity.acr) == (ISSUER, "fc-camille", "eidas2")
    assert identity.auth_time is not None and identity.claims["family_name"] == "MARTIN"
    [token_call] = answers.calls("/token")
    assert token_call.headers["authorization"].startswith("Basic ")  # client_secret_basic
    form = dict(httpx.QueryParams(token_call.content.decode()))
    assert form["code_verifier"] == request.code_verifier and form["code"] == "the-code"


@pytest.mark.parametrize(
    "changes",
    [{"nonce": "another sign-in's nonce"}, {"aud": "another-client"}, {"exp": int(time.time()) - 3600}],
    ids=["nonce", "audience", "expired"],
)
async def test_an_id_token_that_does_not_hold_is_a_failed_sign_in(changes: dict[str, Any]) -> None:
    request = a_request()
    with pytest.raises(ProviderFailed):
        await provider_answering(recipients_id_token(request, **changes)).identify(
            request, "c", "https://x/cb"
        )


async def test_a_refused_code_is_a_failed_sign_in() -> None:
    with pytest.raises(ProviderFailed, match="refused the code"):
        await provider_answering(None).identify(a_request(), "c", "https://x/cb")


# ------------------------------------------------------------------ the state


async def test_the_state_is_kept_server_side_and_worth_one_callback() -> None:
    storage, letter = FakeStorage(), a_letter(state="accepted")

    class Provider:
        async def authorization_url(self, request: IdentityRequest, redirect_uri: str) -> str:
            return f"https://idp.example/auth?state={request.state}"

        async def identify(self, request: IdentityRequest, code: str, redirect_uri: str) -> ProviderIdentity:
            raise AssertionError("not called")

    url = await identity_provider.begin(
        storage, Provider(), letter, "sid-1", "signature", "email", "https://x", NOW
    )
    state = url.rpartition("=")[2]
    kept = await storage.identity_requests.take(state)
    assert kept is not None and kept.session_id == "sid-1" and kept.letter_id == letter.letter_id
    assert await storage.identity_requests.take(state) is None  # single use
    assert kept.expired(NOW + timedelta(minutes=11)) and not kept.expired(NOW + timedelta(minutes=9))


# ------------------------------------------------------------------ what follows


class Desk:
    def __init__(self, state: str | None = "approved") -> None:
        self.asked: list[Message] = []
        self.state = state

    async def ask(self, query: Message, answer: type[R]) -> R:
        self.asked.append(query)
        assert answer is VerificationCaseOpened
        return answer.model_validate(
            {
                "correlation_id": query.correlation_id,
                "case_id": uuid4(),
                "state": self.state,
                "reference": "LRE-1",
            }
        )


def camille(acr: str | None = "eidas2", **claims: str) -> ProviderIdentity:
    names = {"family_name": "MARTIN", "given_name": "Camille Marie", "birthdate": "1990-04-12"} | claims
    return ProviderIdentity(ISSUER, "fc-camille", acr, NOW - timedelta(seconds=5), dict(names))


async def finish(
    storage: FakeStorage,
    desk: Desk,
    methods: tuple[SignatureMethod, ...],
    identity: ProviderIdentity,
    recipient: dict[str, Any] | None = None,
) -> identity_provider.Outcome:
    letter = a_letter(state="accepted", signature_methods=methods)
    letter = storage.letters.add(replace(letter, recipient=recipient or letter.recipient))
    purpose = identity_provider.purpose_for(letter)
    assert purpose is not None
    request = replace(new_request("sid", letter.letter_id, purpose, "email", NOW))
    return await identity_provider.finish(
        storage,
        desk,
        letter,
        request,
        identity,
        accepted_levels=("eidas2", "eidas3"),
        code_address="camille@example.org",
        language="fr",
        now=NOW,
    )


def test_the_provider_signs_the_ar_only_where_the_sender_allowed_it() -> None:
    assert (
        identity_provider.purpose_for(a_letter(signature_methods=(SignatureMethod.identity_provider,)))
        == "signature"
    )
    default = (SignatureMethod.certificate, SignatureMethod.one_time_code)  # a deposit's default
    assert identity_provider.purpose_for(a_letter(signature_methods=default)) == "code"
    assert identity_provider.purpose_for(a_letter(signature_methods=(SignatureMethod.certificate,))) is None


async def test_a_match_signs_the_ar_and_the_identification_is_evidence() -> None:
    storage, desk = FakeStorage(), Desk()
    outcome = await finish(storage, desk, (SignatureMethod.identity_provider,), camille())
    assert isinstance(outcome, identity_provider.Signed)
    identified, signed = storage.published
    assert isinstance(identified, RecipientIdentified) and identified.outcome is IdentificationOutcome.matched
    assert identified.claims.birthdate_sha256 == hashlib.sha256(b"1990-04-12").hexdigest()
    assert "1990-04-12" not in identified.model_dump_json()  # minimised
    assert isinstance(signed, ReceiptSigned) and signed.method is SignatureMethod.identity_provider
    assert signed.signer_name == "Camille Marie MARTIN"
    assert desk.asked == []  # no agent, no desk


async def test_a_match_on_the_code_path_has_the_desk_send_the_code() -> None:
    storage, desk = FakeStorage(), Desk("approved")
    methods = (SignatureMethod.certificate, SignatureMethod.one_time_code)
    outcome = await finish(storage, desk, methods, camille())
    assert isinstance(outcome, identity_provider.DeskDecides) and outcome.reason is None
    [asked] = desk.asked
    assert isinstance(asked, IdentifyWithProvider) and asked.matched and asked.acr == "eidas2"
    assert not any(isinstance(m, ReceiptSigned) for m in storage.published)  # the code signs


async def test_a_mismatch_goes_to_the_desk_with_the_reason() -> None:
    storage, desk = FakeStorage(), Desk("pending")
    methods = (SignatureMethod.identity_provider, SignatureMethod.one_time_code)
    outcome = await finish(storage, desk, methods, camille(family_name="DURAND", given_name="Dominique"))
    assert isinstance(outcome, identity_provider.DeskDecides)
    [asked] = desk.asked
    assert isinstance(asked, IdentifyWithProvider) and not asked.matched
    assert asked.reason == "identity provider names DURAND Dominique; the letter names MARTIN Camille"
    [identified] = storage.published
    assert (
        isinstance(identified, RecipientIdentified) and identified.outcome is IdentificationOutcome.mismatched
    )


async def test_a_level_too_low_is_refused_and_recorded_and_nothing_else_happens() -> None:
    storage, desk = FakeStorage(), Desk()
    outcome = await finish(storage, desk, (SignatureMethod.identity_provider,), camille(acr="eidas1"))
    assert isinstance(outcome, identity_provider.LevelTooLow)
    [identified] = storage.published
    assert isinstance(identified, RecipientIdentified)
    assert identified.outcome is IdentificationOutcome.insufficient_level
    assert desk.asked == []


def kept_recipient(birth_date: str | None) -> dict[str, Any]:
    """Camille Martin as a letter keeps its recipient: `LetterDeposited.recipient` as JSON."""
    recipient = Recipient.model_validate(
        {
            "last_name": "Martin",
            "first_name": "Camille",
            "address": "12 avenue de l'Opéra",
            "postcode": "75001",
            "city": "Paris",
            "email": "camille@example.org",
            "birth_date": birth_date,
        }
    )
    kept: dict[str, Any] = json.loads(recipient.model_dump_json())
    return kept


async def test_a_birth_date_declared_at_deposit_must_be_the_providers_as_well_as_the_names() -> None:
    """CPCE R.53-1: a namesake born another day is not the recipient."""
    methods = (SignatureMethod.identity_provider, SignatureMethod.one_time_code)
    other_day, desk = FakeStorage(), Desk("pending")

    refused = await finish(other_day, desk, methods, camille(), kept_recipient("1991-04-12"))

    assert isinstance(refused, identity_provider.DeskDecides)
    assert refused.reason == (
        "identity provider gives another birth date for MARTIN Camille Marie than the letter declares"
    )
    [asked] = desk.asked
    assert isinstance(asked, IdentifyWithProvider) and not asked.matched
    [identified] = other_day.published
    assert isinstance(identified, RecipientIdentified)
    assert identified.outcome is IdentificationOutcome.mismatched
    for born in ("1990-04-12", None):  # the provider's birth date, or none declared
        same_day = FakeStorage()
        signed = await finish(same_day, Desk(), methods, camille(), kept_recipient(born))
        assert isinstance(signed, identity_provider.Signed)
        assert any(isinstance(m, ReceiptSigned) for m in same_day.published)
