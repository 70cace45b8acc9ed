"""The Alembic environment every service's `migrations/env.py` runs, and the DDL of the
tables every service has: the outbox and the inbox (see `lre_shared.outbox`, `lre_shared.bus`).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from lre_shared.db import MIGRATION_LOCK

# Messages waiting to be published; written in the same transaction as the change
# they announce, published by the relay, then marked.
OUTBOX_DDL = """
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    message_id      uuid NOT NULL UNIQUE,
    correlation_id  uuid NOT NULL,
    exchange        text NOT NULL,
    routing_key     text NOT NULL,
    body            bytea NOT NULL,
    headers         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    published_at    timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
"""

# Messages already handled, per queue; recorded in the same transaction as the effect.
INBOX_DDL = """
CREATE TABLE inbox (
    queue       text NOT NULL,
    message_id  uuid NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (queue, message_id)
);
"""

MESSAGING_DDL = OUTBOX_DDL + INBOX_DDL

# The SHA-256 of each handled message's body: a second message under an id already taken is
# told apart from a redelivery of the first, and refused instead of dropped as a duplicate.
INBOX_BODY_DIGEST_DDL = "ALTER TABLE inbox ADD COLUMN body_sha256 bytea"
INBOX_BODY_DIGEST_DOWN = "ALTER TABLE inbox DROP COLUMN body_sha256"

# The outbox and the inbox as the services' latest migrations leave them, for code that makes
# them without migrations (the bus's own tests and benchmark). The migrations keep the DDL of
# their time: MESSAGING_DDL, then INBOX_BODY_DIGEST_DDL.
CURRENT_MESSAGING_DDL = MESSAGING_DDL + ";\n" + INBOX_BODY_DIGEST_DDL + ";\n"


def execute_script(sql: str) -> None:
    """Run several DDL statements from a migration (one prepared statement each)."""
    from alembic import op

    for statement in sql.split(";"):
        if statement.strip():
            op.execute(statement)


def run_env() -> None:
    """Body of every service's `migrations/env.py` (online mode only)."""
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not set")

    def run(connection: Connection) -> None:
        context.configure(connection=connection, transaction_per_migration=True)
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        try:
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})

    async def main() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(main())
