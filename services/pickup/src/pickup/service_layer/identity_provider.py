"""The recipient proves who they are through an identity provider (CPCE R.53-1: eIDAS level
substantial or high; FranceConnect+), on the signing step (DESIGN §2 step 5).

After the provider's sign-in, whatever the outcome, the site publishes `RecipientIdentified`,
which the signer seals in the letter's evidence (issuer, subject, level, sign-in time, the
names compared, a hash of the birth date, the outcome). Then:

- a level below those accepted: nothing else; the page says it is not enough and offers
  identity documents instead;
- the provider's names are the recipient's (`domain.identity.provider_mismatch`, the
  identity form's tolerant rules), and so is its birth date where the sender declared one
  (`recipient.birth_date`), and the sender allowed `SignatureMethod.identity_provider`:
  the AR is signed at once, under the provider's names (`ReceiptSigned`, same transaction);
- a match where only the one-time code is allowed: the desk approves the letter's case
  without an agent (under a policy asking no more than an identity) and sends the code;
- other names or another birth date, or names missing: the desk gets a case with the reason
  for an agent, and the recipient may send documents to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lre_shared.contracts import (
    DocumentChannel,
    IdentificationOutcome,
    IdentifiedClaims,
    IdentifyWithProvider,
    Language,
    RecipientIdentified,
    SignatureMethod,
    VerificationCaseOpened,
)
from pickup.domain.identity import declared_for_provider, level_accepted, provider_mismatch
from pickup.domain.letter import LetterView, Signature
from pickup.domain.provider import REQUEST_LIFETIME, IdentityRequest, ProviderIdentity, Purpose, new_request
from pickup.service_layer import signature
from pickup.service_layer.ports import IdentityProvider, OtherServices, Storage

log = logging.getLogger(__name__)

CodeChannel = Literal["email", "sms"]


def purpose_for(letter: LetterView) -> Purpose | None:
    """What a match does for `letter`: sign the AR when the sender allowed the provider as a
    signature, else have the desk send the one-time code; None when neither is allowed."""
    if SignatureMethod.identity_provider in letter.signature_methods:
        return "signature"
    if SignatureMethod.one_time_code in letter.signature_methods:
        return "code"
    return None


async def begin(
    storage: Storage,
    provider: IdentityProvider,
    letter: LetterView,
    session_id: str,
    purpose: Purpose,
    code_channel: CodeChannel,
    redirect_uri: str,
    now: datetime,
) -> str:
    """Keep a new sign-in's state, nonce and PKCE verifier; where to send the visitor."""
    request = new_request(session_id, letter.letter_id, purpose, code_channel, now)
    async with storage.unit_of_work() as uow:
        await uow.identity_requests.drop_older_than(now - REQUEST_LIFETIME)
        await uow.identity_requests.add(request)
    return await provider.authorization_url(request, redirect_uri)


@dataclass(frozen=True)
class Signed:
    """The AR is signed with the provider's identification."""


@dataclass(frozen=True)
class LevelTooLow:
    acr: str | None


@dataclass(frozen=True)
class DeskDecides:
    """The desk answered: `opened.state` approved (the code is on its way), or a case waiting
    for an agent (`reason`: why the provider's sign-in did not settle it)."""

    opened: VerificationCaseOpened
    reason: str | None


@dataclass(frozen=True)
class NotMatched:
    """Other names and no one-time code allowed: no desk to turn to; another method."""

    reason: str


Outcome = Signed | LevelTooLow | DeskDecides | NotMatched


def identified(
    letter: LetterView,
    identity: ProviderIdentity,
    outcome: IdentificationOutcome,
    purpose: Purpose,
    now: datetime,
    reason: str | None = None,
) -> RecipientIdentified:
    return RecipientIdentified(
        correlation_id=letter.letter_id,
        item_number=letter.item_number,
        identified_at=now,
        issuer=identity.issuer,
        subject=identity.subject,
        acr=identity.acr,
        auth_time=identity.auth_time,
        claims=IdentifiedClaims(
            family_name=identity.claim("family_name"),
            given_name=identity.claim("given_name"),
            birthdate_sha256=identity.birthdate_sha256,
        ),
        outcome=outcome,
        purpose=purpose,
        reason=reason,
    )


async def finish(
    storage: Storage,
    services: OtherServices,
    letter: LetterView,
    request: IdentityRequest,
    identity: ProviderIdentity,
    *,
    accepted_levels: tuple[str, ...],
    code_address: str,
    language: Language,
    now: datetime,
) -> Outcome:
    """What follows the provider's sign-in for `letter` (see the module)."""
    if not level_accepted(identity.acr, accepted_levels):
        async with storage.unit_of_work() as uow:
            await uow.publish(
                identified(letter, identity, IdentificationOutcome.insufficient_level, request.purpose, now)
            )
        return LevelTooLow(identity.acr)
    # CPCE R.53-1: the names, and the birth date where the sender declared one.
    reason = provider_mismatch(declared_for_provider(letter.recipient), identity.claims)
    if reason is None and request.purpose == "signature":
        signing = Signature(letter.letter_id, now, SignatureMethod.identity_provider, identity.full_name)
        async with storage.unit_of_work() as uow:
            item_number = await signature.signed(uow, signing)
            if item_number is None:
                return Signed()  # signed already (a second tab): nothing announced twice
            await uow.publish(identified(letter, identity, IdentificationOutcome.matched, "signature", now))
            await uow.publish(signature.receipt_signed(signing, item_number))
        return Signed()
    outcome = IdentificationOutcome.matched if reason is None else IdentificationOutcome.mismatched
    async with storage.unit_of_work() as uow:
        await uow.publish(identified(letter, identity, outcome, request.purpose, now, reason))
    if SignatureMethod.one_time_code not in letter.signature_methods:
        assert reason is not None  # a match of purpose "code" implies the code is allowed
        return NotMatched(reason)
    opened = await services.ask(
        IdentifyWithProvider(
            correlation_id=letter.letter_id,
            item_number=letter.item_number,
            matched=reason is None,
            reason=reason,
            issuer=identity.issuer,
            subject=identity.subject,
            acr=identity.acr,
            code_channel=request.code_channel,
            code_address=code_address,
            language=language,
        ),
        VerificationCaseOpened,
    )
    if opened.case_id is not None:
        await signature.case_opened(
            storage, letter.letter_id, opened, DocumentChannel.upload, request.code_channel
        )
    else:
        log.warning(
            "the desk opened no case after the identity provider's sign-in",
            extra={"letter_id": str(letter.letter_id), "reason": opened.reason},
        )
    return DeskDecides(opened, reason)
