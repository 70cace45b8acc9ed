"""A recipient identified through an identity provider (CPCE R.53-1): the desk approves the
case without an agent only for a match under a policy that asks no more than an identity;
otherwise the case waits for an agent with the reason on it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import SecretStr

from lre_shared.contracts import IdentifyWithProvider, SendCode, VerificationDecided
from services.verification.tests.unit.fakes import InMemoryUnitOfWork
from verification.domain.cases import Recipient
from verification.service_layer import desk, provider_identity
from verification.settings import VerificationSettings

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EMAIL = "camille.martin@exemple.example"
SETTINGS = VerificationSettings.model_construct(
    code_hmac_key=SecretStr("a server key of thirty-two chars+"),
    inbound_email="desk@lre.example",
    inbound_mms=None,
    inbound_fax=None,
)
MISMATCH = "identity provider names DURAND Dominique; the letter names MARTIN Camille"


def clock() -> datetime:
    return NOW


async def identify(
    uow: InMemoryUnitOfWork, *, matched: bool, policy: str = "default", address: str = EMAIL
) -> IdentifyWithProvider:
    letter_id, item_number = uuid.uuid4(), f"{uuid.uuid4().int % 10**12:012d}"
    await uow.letters.learn(
        letter_id, item_number, policy, Recipient("Camille Martin", None, EMAIL, None, None)
    )
    return IdentifyWithProvider(
        correlation_id=letter_id,
        item_number=item_number,
        matched=matched,
        reason=None if matched else MISMATCH,
        issuer="https://idp.example",
        subject="fc-1",
        acr="eidas2",
        code_channel="email",
        code_address=address,
    )


async def test_a_match_under_the_default_policy_is_approved_and_sends_the_code_with_no_agent() -> None:
    uow = InMemoryUnitOfWork()
    command = await identify(uow, matched=True)
    answer = await provider_identity.identify_with_provider(command, uow, settings=SETTINGS, clock=clock)
    assert answer.state == "approved"
    assert [d.outcome for d in uow.sent(VerificationDecided)] == ["approved"]
    assert [s.address for s in uow.sent(SendCode)] == [EMAIL]
    case = uow.cases.by_id[answer.case_id]  # type: ignore[index]
    assert case.decided_by == provider_identity.PROVIDER_ACTOR
    assert await desk.queue(uow, NOW, None) == []  # nothing for agents


async def test_a_mismatch_waits_for_an_agent_with_the_reason_and_sends_no_code() -> None:
    uow = InMemoryUnitOfWork()
    answer = await provider_identity.identify_with_provider(
        await identify(uow, matched=False), uow, settings=SETTINGS, clock=clock
    )
    assert answer.state == "pending"
    assert uow.sent(SendCode) == [] and uow.sent(VerificationDecided) == []
    [waiting] = await desk.queue(uow, NOW, None)
    assert waiting["reason"] == MISMATCH
    trail = [e["action"] for e in uow.case_events.events]
    assert "identity_provider_unmatched" in trail


async def test_a_match_under_the_cnb_policy_still_needs_an_agent_for_the_other_documents() -> None:
    uow = InMemoryUnitOfWork()
    answer = await provider_identity.identify_with_provider(
        await identify(uow, matched=True, policy="cnb"), uow, settings=SETTINGS, clock=clock
    )
    assert answer.state == "pending"
    assert uow.sent(SendCode) == []
    [waiting] = await desk.queue(uow, NOW, None)
    assert "cnb policy" in waiting["reason"]


async def test_the_code_goes_only_to_the_declared_address() -> None:
    uow = InMemoryUnitOfWork()
    command = await identify(uow, matched=True, address="someone@else.example")
    answer = await provider_identity.identify_with_provider(command, uow, settings=SETTINGS, clock=clock)
    assert answer.case_id is None and answer.reason
    assert uow.sent(SendCode) == []
