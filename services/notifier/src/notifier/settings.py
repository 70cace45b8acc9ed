"""The notifier's settings (environment, prefix NOTIFIER_).

Only SMTP is required: email is the legal channel. Twilio (SMS, voice) and the fax gateway
are optional; without them the service starts, and a SendNotice for such a channel fails
for good with a reason naming the missing settings.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from lre_shared.settings import ServiceSettings


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    http_port: int = 8102
    public_url: str | None = Field(
        default=None,
        description="This service's public URL (provider callbacks, reminder opt-out links);"
        " defaults to http://HTTP_HOST:HTTP_PORT/.",
    )
    smtp_host: str
    smtp_port: int = 587
    smtp_starttls: bool = Field(default=True, description="Require STARTTLS before sending.")
    smtp_ca_file: Path | None = Field(default=None, description="CA bundle to trust for STARTTLS.")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = 30.0
    smtp_pool_size: int = Field(default=4, ge=1, description="SMTP connections kept open and reused.")
    mail_from: str = Field(description="From address of notices, e.g. notifications@lre.example")
    pickup_url: str = Field(description="Public URL of the pickup site, e.g. https://lre.example/")
    dkim_selector: str | None = None
    dkim_domain: str | None = Field(default=None, description="Defaults to the domain of MAIL_FROM.")
    dkim_private_key: SecretStr | None = Field(default=None, description="PEM; signing is off without it.")

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = Field(default=None, description="E.164 number SMS and calls come from.")
    twilio_base_url: str | None = Field(default=None, description="Instead of https://api.twilio.com.")
    twilio_rate_per_second: float = Field(default=1.0, gt=0, description="Twilio requests a second.")

    fax_gateway_pattern: str | None = Field(
        default=None, description="Email-to-fax address, e.g. {number}@fax.example (number without +)."
    )
    smtp_rate_per_second: float = Field(default=200.0, gt=0, description="Emails a second at most.")

    reminder_every_days: float = Field(default=3.0, gt=0, description="Days between reminders.")
    reminder_poll_seconds: float = Field(default=60.0, gt=0)

    @property
    def own_url(self) -> str:
        return (self.public_url or f"http://{self.http_host}:{self.http_port}/").rstrip("/")
