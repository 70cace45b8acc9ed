from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from lre_shared.contracts import DocumentChannel
from lre_shared.settings import ProxiedSettings, RulesProfileName, RulesSettings, rules_profile_setting


class PickupSettings(RulesSettings, ProxiedSettings):
    model_config = SettingsConfigDict(env_prefix="PICKUP_", extra="ignore", frozen=True)
    rule_overrides: ClassVar[Mapping[str, str]] = {
        "code_attempts_per_address": "max_code_attempts",
        "lock_delays_minutes": "lock_delays_minutes",
    }

    http_port: int = 8100
    public_url: str = Field(description="Public URL of this site, as notices print it.")
    session_secret: SecretStr = Field(
        description="Key that signs session cookies (32+ chars).", min_length=32
    )
    cookie_secure: bool = Field(
        default=True,
        description="Secure, __Host- session cookie; turn off only for plain-HTTP local runs.",
    )
    session_idle_minutes: int = Field(default=15, ge=1)
    rules_profile: RulesProfileName = rules_profile_setting(
        "acceptance and download windows, the one-time code lockout."
    )
    max_identity_attempts: int = Field(
        default=5,
        ge=1,
        description="Wrong identities from one client address before it is held for the item.",
    )
    max_code_attempts: int | None = Field(
        default=None,
        ge=1,
        description="Wrong one-time codes (over all codes of the item) from one client address before it"
        " is held for the item (default: the rules profile's).",
    )
    lock_delays_minutes: tuple[int, ...] | None = Field(
        default=None,
        min_length=1,
        description="How long the 1st, 2nd, ... hold of an address or an item lasts, as a JSON list; the"
        " last repeats. Every hold ends, so a stranger cannot keep the recipient out of the 15-day window"
        " (default: the rules profile's).",
    )
    lock_addresses: int = Field(
        default=3,
        ge=1,
        description="Client addresses held on an item (each after its own wrong answers) before the item is"
        " held for everyone.",
    )
    max_address_failures: int = Field(
        default=20,
        ge=1,
        description="Wrong item numbers, identities or codes (each kind apart) from one client address"
        " within ADDRESS_WINDOW_MINUTES before that address is locked out.",
    )
    address_window_minutes: int = Field(default=15, ge=1)
    address_lockout_minutes: int = Field(default=15, ge=1)
    max_receipt_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest signed AR PDF the site takes."
    )
    max_identity_document_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest identity document the site takes, unless the desk states a smaller limit.",
    )
    document_channels: tuple[DocumentChannel, ...] = Field(
        default=(DocumentChannel.upload, DocumentChannel.email),
        min_length=1,
        description="How recipients may send identity documents, as a JSON list of upload, email, mms,"
        " fax: offer mms and fax only when the desk has an MMS or fax number (VERIFICATION_INBOUND_MMS,"
        " VERIFICATION_INBOUND_FAX).",
    )
    sms_codes: bool = Field(
        default=False,
        description="Offer one-time codes by SMS (to a declared mobile): only when the notifier can"
        " send SMS (its Twilio settings).",
    )
    waiting_refresh_seconds: int = Field(
        default=15, ge=5, description="How often the waiting page reloads itself."
    )
    unclaimed_sweep_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often letters past their window are marked unclaimed, and signed ARs kept"
        " for another check by the signer for over 3 hours are deleted.",
    )
    request_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Wait for another service's answer."
    )
    receipt_check_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Wait for the signer's check of an uploaded signed AR (a PAdES validation, slower"
        " than other answers, more so under load); past it the recipient is told the signature is"
        " being checked, the upload is kept in the database (for whichever replica serves the"
        " page next) and the page's button asks the signer again.",
    )
    concurrent_requests: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Requests the site works on at once; the others wait their turn in arrival order."
            " Unset: the database pool size, so that no request waits for a connection."
        ),
    )

    # The recipients' identity provider (OpenID Connect; FranceConnect+ in production): CPCE
    # R.53-1 accepts an identity provider at eIDAS level substantial or high for the
    # recipient's identity. Unset issuer: the site offers no provider, only documents.
    identity_provider_issuer: str | None = Field(
        default=None,
        description="OpenID issuer of the recipients' identity provider; its discovery document is read"
        " from <issuer>/.well-known/openid-configuration. Unset: no provider is offered.",
    )
    identity_provider_client_id: str | None = Field(
        default=None, description="This site's client id at the provider (needed with the issuer)."
    )
    identity_provider_client_secret: SecretStr | None = Field(
        default=None,
        description="This site's client secret (client_secret_basic), needed with the issuer; no default.",
    )
    identity_provider_name: str = Field(
        default="FranceConnect+",
        min_length=1,
        max_length=80,
        description='The provider\'s name as the pages show it ("Prove my identity with ...").',
    )
    identity_provider_acr_values: tuple[str, ...] = Field(
        default=("eidas2", "eidas3"),
        min_length=1,
        description="The sign-in levels (`acr`) accepted, as a JSON list: eIDAS substantial and high as"
        " FranceConnect+ names them. Anything else is refused with a page offering documents instead.",
    )
    identity_provider_scopes: tuple[str, ...] = Field(
        default=("openid", "given_name", "family_name", "birthdate"),
        min_length=1,
        description="Scopes asked of the provider, as a JSON list (FranceConnect+ names one per claim;"
        " a standard provider: openid, profile).",
    )

    @model_validator(mode="after")
    def _provider_complete(self) -> PickupSettings:
        if self.identity_provider_issuer and not (
            self.identity_provider_client_id and self.identity_provider_client_secret
        ):
            raise ValueError(
                "PICKUP_IDENTITY_PROVIDER_ISSUER needs PICKUP_IDENTITY_PROVIDER_CLIENT_ID and"
                " PICKUP_IDENTITY_PROVIDER_CLIENT_SECRET"
            )
        return self

    @field_validator("lock_delays_minutes")
    @classmethod
    def _positive_delays(cls, delays: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if delays is not None and any(minutes < 1 for minutes in delays):
            raise ValueError("every delay is at least one minute")
        return delays
