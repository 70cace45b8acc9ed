from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from lre_shared.objects import IDENTITY_BUCKET
from lre_shared.settings import ObjectStoreSettings, RulesProfileName, RulesSettings, rules_profile_setting


class VerificationSettings(RulesSettings, ObjectStoreSettings):
    model_config = SettingsConfigDict(env_prefix="VERIFICATION_", extra="ignore", frozen=True)
    rule_overrides: ClassVar[Mapping[str, str]] = {"code_max_tries": "code_max_tries"}

    http_port: int = 8104

    # One-time signing codes (DESIGN §2 step 5).
    code_hmac_key: SecretStr = Field(
        min_length=32, description="Server key: codes are stored only as an HMAC under it (32+ chars)."
    )
    code_digits: int = Field(default=8, ge=6, le=8, description="Digits in a one-time code.")
    code_ttl_minutes: int = Field(default=10, ge=1, description="How long a code stays valid.")
    code_max_tries: int | None = Field(
        default=None, ge=1, description="Wrong tries that invalidate a code (default: the rules profile's)."
    )
    rules_profile: RulesProfileName = rules_profile_setting(
        "the code lockout, and how long letters may need the desk (the acceptance and download"
        " windows), after which their recipients' details are forgotten."
    )
    code_resend_interval_seconds: int = Field(
        default=60, ge=0, description="Least time between two codes for one letter."
    )
    code_max_per_hour: int = Field(default=5, ge=1, description="Most codes for one letter in an hour.")

    # Identity documents (DESIGN §2 step 5, §6).
    max_document_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest identity document taken, in bytes."
    )
    document_retention_days: float = Field(
        default=7,
        ge=0,
        description="Identity documents are deleted this long after the decision; a letter's recipient"
        " details this long after the letter's longest content life, once no case of it is undecided.",
    )
    document_longest_days: float = Field(
        default=30,
        gt=0,
        description="Documents of a case never decided are deleted this long after arrival; a letter's"
        " recipient details this long after its longest content life, whatever its cases.",
    )
    document_sweep_seconds: float = Field(default=300, gt=0, description="How often the sweeper runs.")
    document_key: SecretStr = Field(
        min_length=32,
        description="Key encrypting identity documents at rest (AES-256-GCM, derived with HKDF; 32+ chars).",
    )
    claim_minutes: int = Field(
        default=30, ge=1, description="A case held this long without a decision goes back to the queue."
    )
    desk_target_minutes: int = Field(
        default=30,
        ge=1,
        description="A case waiting longer than this for the desk (documents in, not yet decided) shows"
        " as overdue in the console's queue.",
    )
    document_link_seconds: int = Field(
        default=120, ge=10, le=3600, description="Life of a link that shows a document to an agent."
    )
    identity_bucket: str = Field(
        default=IDENTITY_BUCKET,
        description="Bucket of identity documents, the archive's identity bucket (created at start,"
        " encrypted at rest by default).",
    )

    # Where recipients send documents; printed on the pickup site.
    inbound_email: str = Field(
        default="identite@lre.localhost", description="Address taking documents by email (and fax)."
    )
    inbound_mms: str | None = Field(default=None, description="E.164 number taking MMS (Twilio).")
    inbound_fax: str | None = Field(
        default=None, description="E.164 fax number; its fax-to-email gateway mails the inbound address."
    )
    inbound_fax_senders: tuple[str, ...] = Field(
        default=(), description="Addresses or domains of fax-to-email gateways: their mail is filed as fax."
    )
    inbound_smtp_host: str = Field(default="127.0.0.1", description="Address the inbound SMTP server binds.")
    inbound_smtp_port: int | None = Field(
        default=None,
        ge=0,
        description="Port of the inbound SMTP server (0: any free port; unset: none).",
    )
    inbound_smtp_tls_cert: Path | None = Field(
        default=None, description="PEM certificate (chain) offered with STARTTLS by the inbound SMTP server."
    )
    inbound_smtp_tls_key: Path | None = Field(default=None, description="Its PEM private key.")
    inbound_smtp_require_tls: bool = Field(
        default=False, description="Refuse mail sent without STARTTLS (needs the certificate)."
    )
    own_url: str = Field(
        default="http://127.0.0.1:8104",
        description="This service's URL as the public (Twilio) reaches it; webhook signatures cover it.",
    )
    twilio_account_sid: str | None = Field(default=None, description="Account fetching MMS media.")
    twilio_auth_token: SecretStr | None = Field(
        default=None,
        description="Checks X-Twilio-Signature, fetches media; unset, the MMS webhook refuses.",
    )

    # Agents: OIDC bearer tokens (JWT) checked against the identity provider's keys.
    oidc_issuer: str = Field(description="Expected `iss` of agents' tokens.")
    oidc_audience: str = Field(default="lre-verification-desk", description="Expected `aud`.")
    oidc_jwks_url: str | None = Field(default=None, description="JWKS URL of the identity provider.")
    oidc_jwks_file: Path | None = Field(default=None, description="JWKS file (local runs: lre-desk-token).")
    oidc_roles_claim: str = Field(default="roles", description="Claim listing `agent` / `supervisor`.")

    # The console: agents sign in with the identity provider (authorization code with PKCE,
    # a confidential client; `entrypoints.desk_session`). Unset, the console has no sign-in and
    # the API takes bearer tokens only.
    desk_console_url: str | None = Field(
        default=None,
        description="The console's origin as agents' browsers reach it (the console is at <it>/desk/;"
        " the provider sends them back to <it>/desk/auth/callback); default: own_url.",
    )
    desk_console_client_id: str | None = Field(
        default=None, description="The console's client id at the identity provider (issuer: oidc_issuer)."
    )
    desk_console_client_secret: SecretStr | None = Field(
        default=None, description="Its client secret (client_secret_basic)."
    )
    desk_console_scope: str = Field(
        default="openid profile roles", description="Scopes the console asks (the roles claim's among them)."
    )
    desk_console_resource: str | None = Field(
        default=None,
        description="Resource indicator (RFC 8707) asked for the API's access token, if the provider"
        " wants one (its audience must be oidc_audience).",
    )
    desk_cookie_secure: bool = Field(
        default=True, description="Send the console's session cookie over HTTPS only (false: local HTTP)."
    )
    desk_session_hours: float = Field(
        default=8, gt=0, le=24, description="A console session ends this long after sign-in."
    )
    desk_session_idle_minutes: float = Field(
        default=30, gt=0, description="A console session ends this long after the agent's last request."
    )

    @model_validator(mode="after")
    def _consistent(self) -> VerificationSettings:
        if (self.oidc_jwks_url is None) == (self.oidc_jwks_file is None):
            raise ValueError("set exactly one of oidc_jwks_url and oidc_jwks_file")
        if (self.desk_console_client_id is None) != (self.desk_console_client_secret is None):
            raise ValueError("set both desk_console_client_id and desk_console_client_secret, or neither")
        if (self.inbound_smtp_tls_cert is None) != (self.inbound_smtp_tls_key is None):
            raise ValueError("set both inbound_smtp_tls_cert and inbound_smtp_tls_key, or neither")
        if self.inbound_smtp_require_tls and self.inbound_smtp_tls_cert is None:
            raise ValueError("inbound_smtp_require_tls needs inbound_smtp_tls_cert and inbound_smtp_tls_key")
        return self
