"""What the shared integration tests have in common: a pool on a database holding the
messaging tables (inbox, outbox) and, for the tests of delivery guarantees, a table of effects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from lre_shared.db import create_pool, ensure_database
from lre_shared.migrations import CURRENT_MESSAGING_DDL


async def _pool_with(database_url: str, ddl: str) -> asyncpg.Pool:
    await ensure_database(database_url)
    pool = await create_pool(database_url, 5)
    for statement in ddl.split(";"):
        if statement.strip():
            await pool.execute(statement)
    return pool


@pytest.fixture
async def messaging_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await _pool_with(database_url, CURRENT_MESSAGING_DDL)
    yield pool
    await pool.close()


@pytest.fixture
async def effects_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The messaging tables and `effects`, where handlers record each message they apply."""
    effects = "CREATE TABLE effects (message_id uuid NOT NULL)"
    pool = await _pool_with(database_url, f"{CURRENT_MESSAGING_DDL}; {effects}")
    yield pool
    await pool.close()
