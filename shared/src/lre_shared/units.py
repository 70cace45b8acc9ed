"""Units of work: a service's repositories over one PostgreSQL transaction, with the outbox
inside it, so that what a use case writes and what it publishes commit together or not at all.

A service declares only what is its own: its repositories (`PgRepository`, each holding the
transaction's connection) and which of them its unit of work carries (a `PgUnitOfWork`
subclass naming each as an annotation, `letters: PgLetters`). The transaction is either the
bus's, around one message (`in_unit_of_work`), or one of its own on a pooled connection
(`Transactions`: sweepers, background tasks, HTTP routes). Both publish the same way,
through `lre_shared.outbox`, whose row and relay wake-up are one statement: PostgreSQL
delivers the NOTIFY at commit, so nothing has to be done after it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeAlias, TypeVar, get_type_hints

import asyncpg

from lre_shared.bus import Transaction
from lre_shared.contracts import Message

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# A connection (inside a transaction), or the pool: each statement then commits alone.
Database: TypeAlias = asyncpg.Connection | asyncpg.Pool

M = TypeVar("M")
R = TypeVar("R")
T = TypeVar("T")
P = TypeVar("P", bound="PgRepository")
W = TypeVar("W")
U = TypeVar("U", bound="PgUnitOfWork")
U_co = TypeVar("U_co", covariant=True)


class UnitOfWork(Protocol):
    """One transaction: a service's repositories (its ports add them), and the messages that
    leave once it commits."""

    async def publish(self, message: Message) -> None: ...


# A new unit of work, for what runs outside a message's transaction; it commits when the
# block ends without an exception.
UnitsOfWork: TypeAlias = Callable[[], AbstractAsyncContextManager[U_co]]


@dataclass(frozen=True)
class PgRepository:
    """Statements on a service's tables, on the unit of work's connection."""

    conn: Database


async def fetch_one(db: Database, read: Callable[..., T], query: str, *args: object) -> T | None:
    """The row `query` selects, if any, given to `read` as keyword arguments, one a column."""
    row = await db.fetchrow(query, *args)
    return None if row is None else read(**row)


async def fetch_all(db: Database, read: Callable[..., T], query: str, *args: object) -> list[T]:
    """Each row `query` selects, in order, given to `read` as keyword arguments, one a column."""
    return [read(**row) for row in await db.fetch(query, *args)]


def columns(record: DataclassInstance) -> dict[str, object]:
    """A dataclass record's fields by name, in their order: the columns of the row it is."""
    return {field.name: getattr(record, field.name) for field in fields(record)}


async def insert(db: Database, table: str, values: Mapping[str, object], then: str = "") -> str:
    """`INSERT INTO table (…) VALUES (…)`, one column a key of `values` in its order, each value
    a parameter; `then` follows (`ON CONFLICT …`, `RETURNING …`). The table's and the columns'
    names are the code's own, never input: each must be a plain SQL identifier."""
    unnamed = [name for name in (table, *values) if not _IDENTIFIER.fullmatch(name)]
    if unnamed:
        raise ValueError(f"not plain SQL identifiers: {unnamed}")
    names = ", ".join(values)
    slots = ", ".join(f"${n}" for n in range(1, len(values) + 1))
    query = f"INSERT INTO {table} ({names}) VALUES ({slots})"  # noqa: S608 - identifiers checked above
    return str(await db.execute(f"{query} {then}" if then else query, *values.values()))


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


class HasPool(Protocol):
    def pool(self) -> asyncpg.Pool: ...


class OnPool(Generic[P]):
    """A repository on the pool of the object it is read from (`pool()`, each time: the pool
    exists once the service has started), each of its statements committed alone."""

    def __init__(self, repository: type[P]) -> None:
        self._repository = repository

    def __get__(self, instance: HasPool, owner: type | None = None) -> P:
        return self._repository(instance.pool())


class PgUnitOfWork:
    """The transaction `tx` and its outbox; a service's subclass names its repositories as
    annotations (`letters: PgLetters`), each built here over `conn`."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.conn: asyncpg.Connection = tx.conn
        for name, repository in _repositories(type(self)).items():
            setattr(self, name, repository(self.conn))

    async def publish(self, message: Message) -> None:
        await self.tx.publish(message)


# Each unit of work's class, with the repositories it (and its bases) annotate, by name.
_REPOSITORIES: dict[type, dict[str, type[PgRepository]]] = {}


def _repositories(unit: type) -> dict[str, type[PgRepository]]:
    if unit not in _REPOSITORIES:
        hints: dict[str, Any] = get_type_hints(unit)
        _REPOSITORIES[unit] = {
            name: hint
            for name, hint in hints.items()
            if isinstance(hint, type) and issubclass(hint, PgRepository)
        }
    return _REPOSITORIES[unit]


class Transactions(Generic[U]):
    """Units of work of their own, each on a connection of the pool. `pool` is read when a
    unit opens: a service's pool exists once it has started, after its routes are built."""

    def __init__(self, make: Callable[[Transaction], U], pool: Callable[[], asyncpg.Pool]) -> None:
        self._make = make
        self._pool = pool

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[U]:
        async with self._pool().acquire() as conn, conn.transaction():
            yield self._make(Transaction(conn))


def in_unit_of_work(
    make: Callable[[Transaction], W], use_case: Callable[[M, W], Awaitable[R]]
) -> Callable[[M, Transaction], Awaitable[R]]:
    """A use case as the bus calls it: on the message's transaction, seen as the service's
    unit of work (`make`)."""

    async def handle(message: M, tx: Transaction) -> R:
        return await use_case(message, make(tx))

    return handle
