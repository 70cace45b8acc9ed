"""Which failures are an outage of a part the handler needs (waited out in place by the bus),
and which may be the message's own (returned, bounded by the delivery limit)."""

from __future__ import annotations

import asyncpg
import pytest

from lre_shared.bus import Outage, outage_reason


class MaxRetryError(Exception):
    """As urllib3's (an S3 client's retries given up): the cause kept in `reason`."""

    def __init__(self, reason: BaseException) -> None:
        super().__init__("Max retries exceeded")
        self.reason = reason


def raised_from(cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise RuntimeError("the client gave up") from exc
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        Outage("SMTP 451: try again later"),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(),
        TimeoutError(),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        MaxRetryError(ConnectionRefusedError(111, "Connection refused")),
        raised_from(ConnectionRefusedError(111, "Connection refused")),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_part_down_is_an_outage(error: BaseException) -> None:
    assert outage_reason(error) is not None


@pytest.mark.parametrize(
    "error",
    [
        ValueError("no such letter"),
        KeyError("letter_id"),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.DataError("invalid input"),
        FileNotFoundError("seal.key.pem"),
        raised_from(ValueError("bad value")),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_failure_that_may_be_the_messages_own_is_not(error: BaseException) -> None:
    assert outage_reason(error) is None


def test_a_cycle_of_causes_ends() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert outage_reason(first) is None
