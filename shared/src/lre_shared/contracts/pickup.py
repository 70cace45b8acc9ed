"""The pickup site's contracts: what the recipient decided or did on the letter's pages.

Wrong identities or one-time codes hold an item for a while (the pickup site's
`domain.locks` says how long and for whom); a supervisor may lift the holds from the
verification desk, since a hold that nobody lifts could keep the recipient out until the
15-day window closes (CPCE R.53-3).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from lre_shared.contracts.base import Contract, Language, Message, SignatureMethod, UtcDatetime
from lre_shared.topology import Service, commands_exchange, events_exchange


class PickupEvent(Message):
    """What the pickup site publishes: each event is about one letter, which it names by its
    item number too (numéro de pli)."""

    exchange: ClassVar[str] = events_exchange(Service.pickup)

    item_number: str


class LetterAccepted(PickupEvent):
    """The recipient accepted the letter (ETSI EN 319 522: ConsignmentAcceptance)."""

    routing_key: ClassVar[str] = "letter.accepted.v1"

    accepted_at: UtcDatetime


class LetterRefused(PickupEvent):
    """The recipient refused the letter (ETSI EN 319 522: ConsignmentRejection)."""

    routing_key: ClassVar[str] = "letter.refused.v1"

    refused_at: UtcDatetime


class ReceiptSigned(PickupEvent):
    """The recipient signed the acknowledgement of receipt (avis de réception, CPCE R.53-3),
    with a personal certificate or a one-time code; the content may now be downloaded."""

    routing_key: ClassVar[str] = "receipt.signed.v1"

    method: SignatureMethod
    signed_at: UtcDatetime
    signer_name: str = Field(description="The certificate's name, or the verified recipient's name.")
    receipt_sha256: str | None = Field(default=None, description="The signed AR PDF (certificate path).")
    case_id: UUID | None = Field(default=None, description="The verification case (one-time code path).")


class IdentificationOutcome(StrEnum):
    matched = "matched"  # the provider's names are the letter's recipient's
    mismatched = "mismatched"  # other names, or names missing: the desk checks (a case for an agent)
    insufficient_level = "insufficient_level"  # below eIDAS substantial: not enough (CPCE R.53-1)


class IdentifiedClaims(Contract):
    """What the identity provider said of the person, kept to what the match needs: the
    names as the provider gave them, and the birth date only as a SHA-256 (of its ISO text)."""

    family_name: str | None = None
    given_name: str | None = None
    birthdate_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class RecipientIdentified(PickupEvent):
    """A visitor of the letter's pages proved who they are through an identity provider (an
    OpenID Connect sign-in at an eIDAS level, CPCE R.53-1), and the site compared the names
    it gave with the letter's recipient: `outcome` says what followed. The signer seals it as
    evidence (platform event RecipientIdentified)."""

    routing_key: ClassVar[str] = "recipient.identified.v1"

    identified_at: UtcDatetime
    issuer: str = Field(description="The identity provider (its OpenID issuer).")
    subject: str = Field(description="The person's `sub` at that provider.")
    acr: str | None = Field(description="The eIDAS level of the sign-in, as the provider names it.")
    auth_time: UtcDatetime | None = Field(default=None, description="When the person signed in there.")
    claims: IdentifiedClaims
    outcome: IdentificationOutcome
    purpose: Literal["signature", "code"] = Field(
        description="signature: a match signs the AR (method identity_provider); code: a match has the"
        " desk issue the one-time code."
    )
    reason: str | None = Field(default=None, description="Why it did not match, for a mismatch.")


class LetterUnclaimed(PickupEvent):
    """The acceptance window closed with no decision: the letter is unclaimed (non réclamée;
    ETSI EN 319 522: AcceptanceRejectionExpiry). The sender gets it at once."""

    routing_key: ClassVar[str] = "letter.unclaimed.v1"

    window_closed_at: UtcDatetime


class LetterLanguageChanged(PickupEvent):
    """The recipient switched the pickup site's language on the letter's pages: the letter's
    notices, reminders, codes and confirmations use it from now on."""

    routing_key: ClassVar[str] = "letter.language_changed.v1"

    language: Language
    changed_at: UtcDatetime


class LockKind(StrEnum):
    identity = "identity"  # the identity step (DESIGN §2 step 3)
    code = "code"  # the one-time code of the signing step (step 5)


class LetterLocked(PickupEvent):
    """Wrong answers started a hold on the item: for one client address (`address`) or for
    everyone (`item`). While a `code` hold lasts the desk sends no code for the letter."""

    routing_key: ClassVar[str] = "letter.locked.v1"

    kind: LockKind
    scope: Literal["address", "item"]
    locked_at: UtcDatetime
    locked_until: UtcDatetime


class LiftLetterLock(Message):
    """A supervisor at the verification desk lifts the letter's holds of `kinds`; the desk
    keeps who asked and why in its audit trail."""

    exchange: ClassVar[str] = commands_exchange(Service.pickup)
    routing_key: ClassVar[str] = "lift_letter_lock.v1"

    item_number: str
    kinds: tuple[LockKind, ...] = Field(min_length=1)
    supervisor: str = Field(min_length=1, max_length=200, description="The desk token's subject.")
    reason: str = Field(min_length=1, max_length=1000)
    requested_at: UtcDatetime


class LetterLockLifted(PickupEvent):
    """A supervisor lifted the letter's holds of `kinds` (every address's and the item's):
    the next right answer works at once."""

    routing_key: ClassVar[str] = "letter.lock_lifted.v1"

    kinds: tuple[LockKind, ...]
    supervisor: str = Field(description="The supervisor who lifted it (the desk token's subject).")
    reason: str
    lifted_at: UtcDatetime
    locked_until: UtcDatetime | None = Field(
        default=None, description="The latest hold that was in force, if any."
    )
