from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from lre_shared.objects import CONTENT_BUCKET, EVIDENCE_BUCKET, IDENTITY_BUCKET
from lre_shared.settings import (
    ObjectStoreSettings,
    ProxiedSettings,
    RulesProfileName,
    RulesSettings,
    rules_profile_setting,
)


class ArchiveSettings(RulesSettings, ObjectStoreSettings, ProxiedSettings):
    model_config = SettingsConfigDict(env_prefix="ARCHIVE_", extra="ignore", frozen=True)
    rule_overrides: ClassVar[Mapping[str, str]] = {
        "download_hours": "download_hours",
        "content_grace_hours": "unaccepted_grace_hours",
        "evidence_retention_days": "evidence_retention_days",
    }

    http_port: int = 8101
    s3_public_endpoint: str | None = Field(
        default=None,
        description="S3 endpoint as sender systems reach it, for presigned uploads (default: s3_endpoint)",
    )
    s3_threads: int = Field(
        default=16,
        ge=1,
        description="Threads for the store's blocking calls: upload reads, copies, zip streams.",
    )
    content_bucket: str = CONTENT_BUCKET
    evidence_bucket: str = EVIDENCE_BUCKET
    identity_bucket: str = IDENTITY_BUCKET
    content_expiry_days: int = Field(
        default=30,
        ge=1,
        description="Lifecycle backstop of the content bucket: objects older than this are deleted"
        " (the sweeper deletes earlier); never shorter than the acceptance window + grace +"
        " download window, which it is raised to.",
    )
    rules_profile: RulesProfileName = rules_profile_setting(
        "acceptance and download windows, evidence retention."
    )
    evidence_retention_days: int | None = Field(
        default=None,
        ge=365,
        description="Default compliance-mode retention of the evidence bucket (at least a year;"
        " default: the rules profile's).",
    )
    senders: frozenset[str] | None = Field(
        default=None,
        description="Sender ids allowed to deposit, as a JSON list; unset accepts any sender"
        " (development only: set it in production).",
    )
    max_document_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_letter_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_embedded_bytes: int = Field(default=1024 * 1024, ge=1)
    max_attachments: int = Field(default=20, ge=0)
    download_link_seconds: int = Field(
        default=300, ge=10, le=3600, description="How long a document's download link is valid."
    )
    download_hours: int | None = Field(
        default=None,
        ge=1,
        description="Hours the content stays downloadable from the signature of the acknowledgement"
        " of receipt (when it becomes available), then deleted (default: the rules profile's).",
    )
    unaccepted_grace_hours: int | None = Field(
        default=None,
        ge=0,
        description="Hours the content of a letter not yet available (not accepted, or its"
        " acknowledgement of receipt not signed) stays after its acceptance window closes"
        " (default: the rules profile's).",
    )
    sweep_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often the sweeper runs: it deletes due content, uploads never deposited"
        " within ARCHIVE_UPLOAD_KEEP_HOURS, and the closed windows of failed API-key attempts.",
    )
    upload_url_seconds: int = Field(
        default=900, ge=10, le=7 * 24 * 3600, description="How long a presigned upload URL is valid."
    )
    upload_keep_hours: int = Field(
        default=24,
        ge=1,
        description="Hours after its grant within which an upload must be deposited; then it is deleted.",
    )
    # Sender systems' HTTP API (POST /uploads, /senders/...) takes the API keys of
    # `lre-senders key issue`; failed authentications are limited per client address.
    api_key_failures: int = Field(
        default=10, ge=1, description="Failed API key authentications from one client address before 429."
    )
    api_key_failure_window_seconds: int = Field(
        default=300, ge=1, description="The window those failures are counted over (and Retry-After's bound)."
    )
    # `lre-senders add | password | remove` (sender systems' broker users): RabbitMQ's
    # management API, with a user tagged administrator (default: the AMQP URL's user).
    broker_admin_url: str | None = Field(
        default=None,
        description="RabbitMQ management API (http(s)://host:15672) where `lre-senders` creates sender"
        " systems' broker users and sets their permissions; the service itself never calls it.",
    )
    broker_admin_user: str | None = Field(
        default=None, description="Management API user (tag administrator); default: the AMQP URL's user."
    )
    broker_admin_password: SecretStr | None = Field(
        default=None, description="Its password; default: the AMQP URL's password."
    )
    sender_broker_url: str | None = Field(
        default=None,
        description="AMQP URL, without credentials, at which sender systems reach the broker, as"
        " `lre-senders add` prints it (default: the archive's own, without its credentials).",
    )
    own_url: str | None = Field(
        default=None,
        description="URL at which the pickup site reaches this service, for zip links"
        " (default http://127.0.0.1:<http_port>).",
    )
    zip_link_key: SecretStr = Field(
        description="HMAC key signing the download links this service serves (documents and zips)."
    )
    zip_link_seconds: int = Field(default=300, ge=10, le=3600, description="How long a zip link is valid.")
    zip_envelope_wait_seconds: int = Field(
        default=60,
        ge=0,
        le=110,
        description="How long after the receipt's signature a zip link waits for the envelope proof"
        " (refused as not ready meanwhile; the pickup site asks to retry for 2 minutes), then goes"
        " without it.",
    )
    webhook_allow_http: bool = Field(
        default=False,
        description="Accept http:// webhook URLs (local and test platforms only); otherwise https:// only.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Accept webhook URLs resolving to loopback, link-local, private or reserved"
        " addresses (local and test platforms only: elsewhere it lets a sender reach internal services).",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long one webhook call may take, connection included."
    )
    webhook_retry_seconds: tuple[float, ...] = Field(
        default=(30, 60, 120, 300, 600),
        min_length=1,
        description="Waits after the first failed webhook attempts, in seconds, as a JSON list; then"
        " `webhook_retry_every_seconds`. Each wait is jittered by up to 10 % either way.",
    )
    webhook_retry_every_seconds: float = Field(
        default=900, gt=0, description="Wait between webhook attempts once `webhook_retry_seconds` are used."
    )
    webhook_give_up_hours: float = Field(
        default=48,
        ge=24,
        description="Hours from the event after which a webhook delivery still failing fails for good"
        " (at least a day).",
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the webhook dispatcher looks for due deliveries."
    )
    webhook_batch: int = Field(
        default=20, ge=1, le=500, description="Webhook deliveries one replica sends at once."
    )
    webhook_secrets_key: SecretStr = Field(
        min_length=32,
        description="Key encrypting the webhook endpoints' signing secrets in the database"
        " (AES-256-GCM, derived with HKDF; 32+ chars). Keep it: with another key the stored"
        " secrets do not open and the service does not start.",
    )
    webhook_rotation_overlap_hours: float = Field(
        default=24,
        ge=0,
        description="Hours the replaced secret still signs deliveries beside the new one after"
        " `lre-senders webhook rotate-secret`.",
    )
