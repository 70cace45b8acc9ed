"""What the shared integration tests have in common: a pool on a database holding the
messaging tables (inbox, outbox) and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from lre_shared.db import create_pool, ensure_database
from lre_shared.migrations import CURRENT_MESSAGING_DDL


@pytest.fixture
async def messaging_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await ensure_database(database_url)
    pool = await create_pool(database_url, 5)
    for statement in CURRENT_MESSAGING_DDL.split(";"):
        if statement.strip():
            await pool.execute(statement)
    yield pool
    await pool.close()
