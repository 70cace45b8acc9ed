"""The Alembic environment every service's `migrations/env.py` runs, and the DDL of the
tables every service has: the outbox and the inbox (see `lre_shared.outbox`, `lre_shared.bus`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

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

    for statement in split_statements(sql):
        op.execute(statement)


def split_statements(sql: str) -> list[str]:
    """The statements of an SQL script: split at each `;` that is not inside a quoted string, a
    dollar-quoted body (a function's, which holds semicolons of its own) or a `--` comment."""
    statements: list[str] = []
    start = i = 0
    while i < len(sql):
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
        elif sql[i] == "'":
            end = sql.find("'", i + 1)
            i = len(sql) if end < 0 else end + 1
            continue
        elif (tag := _DOLLAR_TAG.match(sql, i)) is not None:
            end = sql.find(tag.group(), tag.end())
            i = len(sql) if end < 0 else end + len(tag.group())
            continue
        elif sql[i] == ";":
            statements.append(sql[start:i])
            start = i + 1
        i += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _code(s)]


_DOLLAR_TAG = re.compile(r"\$[A-Za-z_]*\$")


def _code(statement: str) -> bool:
    """Whether `statement` holds more than blank lines and comments."""
    return any(line.strip() and not line.strip().startswith("--") for line in statement.splitlines())


Step = Callable[[], None]


def sql_migration(module_file: str, *, before: str = "") -> tuple[Step, Step]:
    """The upgrade and downgrade of a migration whose SQL is the `.sql` file beside its module:
    the statements after the line `-- upgrade`, and those after `-- downgrade`. `before`: DDL
    run first on upgrade (the messaging tables every service's first migration makes)."""
    script = Path(module_file).with_suffix(".sql").read_text(encoding="utf-8")
    head, marker, down = script.partition("\n-- downgrade\n")
    up = head.partition("-- upgrade\n")[2]
    if not marker or not up:
        raise ValueError(f"{module_file}: its .sql file wants a `-- upgrade` and a `-- downgrade` section")
    return (lambda: execute_script(before + up)), (lambda: execute_script(down))


# The inbox's body digest, the same migration in every service.
INBOX_BODY_DIGEST: tuple[Step, Step] = (
    lambda: execute_script(INBOX_BODY_DIGEST_DDL),
    lambda: execute_script(INBOX_BODY_DIGEST_DOWN),
)


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
