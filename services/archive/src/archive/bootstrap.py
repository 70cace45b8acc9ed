"""Wires the archive's adapters into its handlers and its handlers into the bus."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

import asyncpg

from archive.adapters.storage import ContentStore, S3ContentStore
from archive.service_layer import handlers
from archive.settings import ArchiveSettings
from lre_shared.bus import Bus
from lre_shared.messages import IssueDownloadLink, SubmitLetter
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import Service

MIGRATIONS = Path(__file__).parent / "migrations"


def bootstrap(settings: ArchiveSettings, store: ContentStore | None = None) -> ServiceRuntime:
    content = store or S3ContentStore(
        settings.s3_endpoint,
        settings.s3_public_endpoint,
        settings.s3_access_key.get_secret_value(),
        settings.s3_secret_key.get_secret_value(),
        settings.s3_region,
        settings.content_bucket,
    )
    bus = Bus(settings, Service.archive)
    bus.subscribe(
        SubmitLetter,
        partial(handlers.submit_letter, store=content, max_document_bytes=settings.max_document_bytes),
    )
    bus.subscribe(
        IssueDownloadLink,
        partial(
            handlers.issue_download_link,
            store=content,
            lifetime=timedelta(seconds=settings.download_link_seconds),
        ),
        idempotent=False,
    )

    async def ensure_bucket(_: asyncpg.Pool) -> None:
        await content.ensure_bucket()

    return ServiceRuntime(bus=bus, migrations=MIGRATIONS, on_started=[ensure_bucket])
