"""PostgreSQL: each service owns its database, created and migrated when it starts.

Migrations are Alembic revisions kept in each service (`<service>/migrations/`). Several
replicas may start at once, so the migration run holds a PostgreSQL advisory lock.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x4C5245  # "LRE": one advisory lock id for migration runs


def database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise ValueError("the database URL names no database")
    return name


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def ensure_database(url: str) -> None:
    """Create the service's database if it does not exist yet."""
    name = database_name(url)
    conn = await asyncpg.connect(_with_database(url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                log.info("created database %s", name)
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                # Another replica created it first: seen as a duplicate database, or, when both
                # insert into the catalog at once, as a unique violation on its name index.
                pass
    finally:
        await conn.close()


def sqlalchemy_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))


def _upgrade(url: str, migrations: Path) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    command.upgrade(config, "head")


async def migrate(url: str, migrations: Path) -> None:
    """Create the database if needed and apply every migration (idempotent)."""
    await ensure_database(url)
    # Alembic is synchronous and runs its own event loop for the async engine.
    await asyncio.to_thread(_upgrade, url, migrations)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No session reset on release: nothing here sets session state or holds session-level
    advisory locks (transaction-level ones end with the transaction), and asyncpg's default
    reset costs a round trip per acquired connection, that is, per message."""


async def create_pool(url: str, size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=size, reset=_keep_session)
    if pool is None:  # pragma: no cover - asyncpg types it optional
        raise RuntimeError("could not create the database pool")
    return pool
