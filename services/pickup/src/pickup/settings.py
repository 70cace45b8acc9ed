from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from lre_shared.settings import ServiceSettings


class PickupSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PICKUP_", extra="ignore", frozen=True)

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
    rules_profile: str = "fr_lre"
    max_identity_attempts: int = Field(default=5, ge=1, description="Wrong identities before an item locks.")
    request_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Wait for another service's answer."
    )
