"""A recipient identified through an identity provider instead of sending documents (DESIGN
§2 step 5; CPCE R.53-1 accepts an identity provider at eIDAS level substantial or high, such
as FranceConnect+).

The pickup site runs the sign-in, checks the level and compares the provider's names with
the letter's recipient (the same tolerant rules as its identity form); the desk gets the
outcome. A match under the `default` policy (one identity document) is as good as the
document an agent would have checked: the case is approved without an agent and the code
goes out. Anything else waits for an agent with the reason on the case: other names (the
provider names someone else, or gave no names), or a policy that asks for more than an
identity (`cnb`: the company extract and the bar certificate no provider vouches for); the
recipient may still send documents to the same case.
"""

from __future__ import annotations

import uuid

from lre_shared.clock import Clock
from lre_shared.contracts import (
    CaseState,
    DocumentChannel,
    IdentifyWithProvider,
    OpenVerificationCase,
    VerificationCaseOpened,
    VerificationDecided,
)
from verification.domain.cases import CLOSED, Channels, CodeOrder, Decision
from verification.domain.reference import new_reference
from verification.service_layer import codes
from verification.service_layer.cases import _letter_to_open, _not_opened, _reply
from verification.service_layer.ports import UnitOfWork
from verification.settings import VerificationSettings

# Who decided, in the case's record and audit trail, when no agent did.
PROVIDER_ACTOR = "identity-provider"
# The only policy an identity alone satisfies (domain.policy: `default` asks one identity document).
IDENTITY_ONLY_POLICIES = ("default",)


async def identify_with_provider(
    command: IdentifyWithProvider, uow: UnitOfWork, *, settings: VerificationSettings, clock: Clock
) -> VerificationCaseOpened:
    """The letter's case after the provider's sign-in: approved (code sent) or waiting for an agent."""
    now = clock()
    # Answered as an opening of the case: same checks on the letter and the code's address.
    as_opening = OpenVerificationCase(
        correlation_id=command.correlation_id,
        item_number=command.item_number,
        document_channel=DocumentChannel.upload,
        code_channel=command.code_channel,
        code_address=command.code_address,
        language=command.language,
    )
    letter = await _letter_to_open(as_opening, uow)
    if isinstance(letter, str):
        return _not_opened(as_opening, letter)
    channels = Channels(
        DocumentChannel.upload.value, command.code_channel, command.code_address.strip(), command.language
    )
    case = await uow.cases.current(letter.letter_id)
    if case is not None and case.state == CaseState.approved.value:
        return _reply(as_opening, settings, case)  # verified already: new codes come by RequestCode
    if case is None:
        case = await uow.cases.open(uuid.uuid4(), letter, channels, now, new_reference)
        await uow.case_events.record(
            case.case_id, "recipient", "opened", now, policy=letter.policy, document_channel="upload"
        )
    elif case.channels != channels:
        case = await uow.cases.choose_channels(case.case_id, channels)
    detail = {"issuer": command.issuer, "subject": command.subject, "acr": command.acr}
    if command.matched and letter.policy in IDENTITY_ONLY_POLICIES:
        reason = f"identity proved with the identity provider {command.issuer} (level {command.acr})"
        await uow.cases.decide(case.case_id, Decision("approved", "approved", reason, PROVIDER_ACTOR, now))
        await uow.case_events.record(case.case_id, PROVIDER_ACTOR, "approved", now, reason=reason, **detail)
        await uow.publish(
            VerificationDecided(
                correlation_id=letter.letter_id,
                case_id=case.case_id,
                item_number=letter.item_number,
                outcome="approved",
                reason=reason,
                decided_at=now,
            )
        )
        order = CodeOrder(
            case.case_id,
            letter.letter_id,
            letter.item_number,
            channels.code_channel,
            channels.code_address,
            channels.language,
        )
        if await codes.issue_code(uow, order, settings=settings, now=now) is None:
            # The pickup site holds the letter's codes after wrong ones: none is sent now.
            await uow.case_events.record(
                case.case_id, PROVIDER_ACTOR, "code_withheld", now, reason="codes locked"
            )
    else:
        if command.matched:
            reason = (
                f"identity proved with the identity provider {command.issuer} (level {command.acr});"
                f" the {letter.policy} policy asks for more documents than an identity"
            )
        else:
            reason = command.reason or "the identity provider's names are not the letter's recipient's"
        if case.state not in CLOSED:
            await uow.cases.wait_for_agent(case.case_id, now, reason)
        await uow.case_events.record(
            case.case_id, PROVIDER_ACTOR, "identity_provider_unmatched", now, reason=reason, **detail
        )
    updated = await uow.cases.get(case.case_id)
    assert updated is not None
    return _reply(as_opening, settings, updated)
