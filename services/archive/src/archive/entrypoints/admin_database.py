"""The archive's database as the operator's commands (`lre-senders`) open it: with the
settings read from the environment (`ARCHIVE_*`), as the service reads them, and a small pool
closed when the command is done. The service's migrations must have run (it applies them at
start)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from archive.settings import ArchiveSettings
from lre_shared.db import create_pool


@asynccontextmanager
async def archive_database() -> AsyncIterator[tuple[ArchiveSettings, asyncpg.Pool]]:
    settings = ArchiveSettings()
    pool = await create_pool(settings.database_url.get_secret_value(), 2)
    try:
        yield settings, pool
    finally:
        await pool.close()
