"""Replicas of a service started at once all find their database: the ones that lose the race
to create it go on (two CREATE DATABASE at once fail either as a duplicate database or as a
unique violation on the catalog's name index)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from lre_shared.db import database_name, ensure_database

pytestmark = pytest.mark.integration


async def test_replicas_starting_together_all_find_their_database(database_url: str) -> None:
    # The race is narrow: many attempts at once, several rounds, each on a new database.
    for round_ in range(3):
        url = f"{database_url}_{round_}"
        await asyncio.gather(*(ensure_database(url) for _ in range(8)))
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT current_database()") == database_name(url)
        finally:
            await conn.close()
