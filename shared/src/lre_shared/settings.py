"""Settings common to every service.

Each service subclasses `ServiceSettings` with its own environment prefix
(`ARCHIVE_`, `PICKUP_`, ...). Settings are built once, in `create_app()`; nothing reads
the environment at import time. Connection URLs carry credentials, so they are secrets
with no defaults: a service refuses to start without them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from lre_shared.proxies import Network
from lre_shared.rules import FR_LRE, PROFILES, RulesProfile
from lre_shared.topology import DEFAULT_DELIVERY_LIMIT


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    amqp_url: SecretStr = Field(description="RabbitMQ URL, amqp://user:password@host:port/vhost")
    database_url: SecretStr = Field(
        description="PostgreSQL URL of this service's own database, postgresql://user@host/db"
    )
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    http_port: int = Field(description="Port of health endpoints (and the site, for pickup).")
    prefetch: int = Field(default=64, ge=1, description="Messages in flight per consumer.")
    delivery_limit: int = Field(
        default=DEFAULT_DELIVERY_LIMIT,
        ge=1,
        description="Deliveries before the broker dead-letters a message that keeps failing.",
    )
    consume_batch: int = Field(
        default=50,
        ge=1,
        description="Deliveries of one queue handled in one transaction when they wait together (1: never).",
    )
    consume_workers: int = Field(default=4, ge=1, description="Transactions in flight per queue.")
    outage_patience_seconds: float = Field(
        default=600.0,
        ge=0,
        description=(
            "How long a delivery waits, without being returned, for a part its handler needs"
            " (the database, the SMTP server, S3) to come back; past it, it is returned and"
            " counts against the delivery limit. 0: returned at once."
        ),
    )
    trusted_publishers: tuple[str, ...] = Field(
        default=(),
        description=(
            "Broker users that may act for any sender system (the platform's own tooling, the"
            " dead-letter replayer); every other publisher acts only for the sender of its own name."
        ),
    )
    db_pool_size: int = Field(default=10, ge=1)
    outbox_batch: int = Field(default=500, ge=1, description="Rows the relay publishes at once.")
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    metrics_token: SecretStr | None = Field(
        default=None,
        description=(
            "Bearer token Prometheus must present at /metrics. Set it wherever the service's "
            "port is reachable from outside (the pickup site, the notifier's provider callbacks); "
            "unset, /metrics answers whoever reaches the port."
        ),
    )
    log_level: str = "INFO"
    traces_file: Path | None = Field(
        default=None,
        description=(
            "Write every finished trace span to this file, one JSON object a line (tests, local "
            "runs). Traces go to an OpenTelemetry collector when the standard "
            "OTEL_EXPORTER_OTLP_ENDPOINT is set (no prefix)."
        ),
    )


class ObjectStoreSettings(ServiceSettings):
    """Settings of a service that keeps objects in the S3 store (the archive its letters and
    evidence, the desk its identity documents)."""

    s3_endpoint: str = Field(description="S3 endpoint the service talks to, http(s)://host:port")
    s3_access_key: SecretStr
    s3_secret_key: SecretStr
    s3_region: str = "us-east-1"


class ProxiedSettings(ServiceSettings):
    """Settings of a service whose HTTP port is reached through reverse proxies (the ingress):
    its per-address limits count the client address they forward (`lre_shared.proxies`)."""

    trusted_proxies: tuple[str, ...] = Field(
        default=(),
        description="Addresses or networks (CIDR) of the reverse proxies (the ingress) in front of the"
        " HTTP port, as a JSON list: only a request from one of them has its X-Forwarded-For read, for"
        " the per-address limits. None: the socket peer is the client.",
    )

    def proxy_networks(self) -> tuple[Network, ...]:
        return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in self.trusted_proxies)


def _known_profile(name: str) -> str:
    if name not in PROFILES:
        raise ValueError(f"unknown rules profile {name!r}: set one of {', '.join(sorted(PROFILES))}")
    return name


# The name of a profile of `lre_shared.rules.PROFILES`; any other is refused at start.
RulesProfileName = Annotated[str, AfterValidator(_known_profile)]


def rules_profile_setting(governs: str) -> Any:
    """The `rules_profile` setting, saying what the profile `governs` in this service."""
    return Field(default=FR_LRE.name, description=f"The rules profile (lre_shared.rules.PROFILES): {governs}")


class RulesSettings(ServiceSettings):
    """Settings of a service that applies the law's rules profile: it declares
    `rules_profile: RulesProfileName = rules_profile_setting(...)` where its table lists it, and
    in `rule_overrides` which of its settings, when set, replace a number of the profile."""

    # The profile's attribute -> the setting (None: the profile's own) that replaces it.
    rule_overrides: ClassVar[Mapping[str, str]] = {}

    if TYPE_CHECKING:
        rules_profile: str

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        numbers = {field.name for field in fields(RulesProfile)}
        for number, setting in cls.rule_overrides.items():
            if number not in numbers or setting not in cls.model_fields:
                raise TypeError(f"{cls.__name__}: {setting!r} cannot replace the profile's {number!r}")

    def rules(self) -> RulesProfile:
        """The rules profile, with the numbers this deployment sets in place of its own."""
        values = {number: getattr(self, setting) for number, setting in self.rule_overrides.items()}
        return replace(
            PROFILES[self.rules_profile], **{number: v for number, v in values.items() if v is not None}
        )
