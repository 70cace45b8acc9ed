"""A bus handler built with `in_unit_of_work` hands its use case the service's unit of work
over the message's own transaction."""

from __future__ import annotations

from typing import Any

from lre_shared.bus import Transaction
from lre_shared.contracts import Message
from lre_shared.units import PgUnitOfWork, in_unit_of_work


class Outbox:
    """Stands for the transaction's connection: what the outbox statement was given."""

    def __init__(self) -> None:
        self.statements: list[tuple[Any, ...]] = []

    async def execute(self, *args: Any) -> None:
        self.statements.append(args)


async def test_the_use_case_gets_the_unit_of_work_over_the_message_transaction() -> None:
    seen: list[tuple[str, PgUnitOfWork]] = []

    async def use_case(message: str, uow: PgUnitOfWork) -> Message | None:
        seen.append((message, uow))
        return None

    tx = Transaction(Outbox())
    await in_unit_of_work(PgUnitOfWork, use_case)("a message", tx)

    [(message, uow)] = seen
    assert message == "a message"
    assert uow.tx is tx
    assert uow.conn is tx.conn
