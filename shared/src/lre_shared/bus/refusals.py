"""Why a message is refused: what can never succeed by retrying, and where a message is wrong."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from pydantic import ValidationError


class PermanentError(Exception):
    """The message can never succeed as it is: dead-letter it now, with this reason."""


class Outage(Exception):
    """A part the handler needs is down or refusing for now (its database restarting, a mail
    server answering 4xx): no fault of the message. The delivery waits for the part to come
    back (`ServiceSettings.outage_patience_seconds`) rather than spend its deliveries."""


# The database is down, restarting or full: SQLSTATE classes 08 and 57P, 53300, a lost connection.
_DATABASE_DOWN: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
)


def outage_reason(exc: BaseException) -> str | None:
    """What is down, when `exc` says a part the handler needs is unreachable or refusing for now
    (an `Outage`, a refused or dropped connection, a timeout, a database shutting down), also
    when it is the cause of the error a client library raised (an S3 client's retries given up
    on a refused connection); None when the failure may be the message's own."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen or len(seen) > 8:
            continue
        seen.add(id(current))
        if isinstance(current, (Outage, ConnectionError, TimeoutError, *_DATABASE_DOWN)):
            return f"{type(current).__name__}: {current}"
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError keeps its cause there
        pending += [current.__cause__, current.__context__]
        if isinstance(reason, BaseException):
            pending.append(reason)
    return None


def permanent_reason(exc: BaseException) -> str | None:
    """Why `exc` can never go away by retrying, or None when it may (a lost connection, a
    deadlock, a store that is down): a retry of such a message would only reach the delivery
    limit and be dead-lettered as "delivery_limit", its real cause lost."""
    if isinstance(exc, PermanentError):
        return str(exc)
    if isinstance(exc, asyncpg.DataError):
        # SQLSTATE class 22: the value itself (a NUL in text, a number out of range).
        return f"the database cannot hold this message's data: {type(exc).__name__}: {exc}"
    if isinstance(exc, RecursionError | UnicodeError):
        return f"the message cannot be handled: {type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class Fault:
    """One reason a message is refused: where in it (`sender.name`, `attachments[0]`), and why."""

    field: str
    reason: str


def faults_of(error: ValidationError) -> tuple[Fault, ...]:
    """Each problem pydantic found, named by where it is in the message."""
    return tuple(Fault(field_path(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in error.errors())


def field_path(location: tuple[int | str, ...]) -> str:
    """A place in a message as refusals name it: `attachments[0].filename`."""
    named = ""
    for part in location:
        named += f"[{part}]" if isinstance(part, int) else f".{part}" if named else str(part)
    return named or "(body)"


def summary(faults: tuple[Fault, ...]) -> str:
    return "; ".join(f"{fault.field}: {fault.reason}" for fault in faults[:10])
