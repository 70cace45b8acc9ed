from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from lre_shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VERIFICATION_", extra="ignore", frozen=True)

    http_port: int = 8104

    # One-time signing codes (DESIGN §2 step 5).
    code_hmac_key: SecretStr = Field(
        min_length=32, description="Server key: codes are stored only as an HMAC under it (32+ chars)."
    )
    code_digits: int = Field(default=8, ge=6, le=8, description="Digits in a one-time code.")
    code_ttl_minutes: int = Field(default=10, ge=1, description="How long a code stays valid.")
    code_max_tries: int = Field(default=5, ge=1, description="Wrong tries that invalidate a code.")
    code_resend_interval_seconds: int = Field(
        default=60, ge=0, description="Least time between two codes for one letter."
    )
    code_max_per_hour: int = Field(default=5, ge=1, description="Most codes for one letter in an hour.")
