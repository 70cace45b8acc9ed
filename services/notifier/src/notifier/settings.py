from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from lre_shared.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    http_port: int = 8102
    smtp_host: str
    smtp_port: int = 587
    smtp_starttls: bool = Field(default=True, description="Require STARTTLS before sending.")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = 30.0
    mail_from: str = Field(description="From address of notices, e.g. notifications@lre.example")
    pickup_url: str = Field(description="Public URL of the pickup site, e.g. https://lre.example/")
