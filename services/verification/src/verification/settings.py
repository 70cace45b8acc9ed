from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from lre_shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VERIFICATION_", extra="ignore", frozen=True)

    http_port: int = 8104
