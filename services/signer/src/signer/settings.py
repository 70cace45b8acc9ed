from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from lre_shared.settings import ServiceSettings


class SignerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNER_", extra="ignore", frozen=True)

    http_port: int = 8103
    policy_id: str = "urn:lre:policy:fr_lre:v1"
