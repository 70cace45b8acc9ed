"""Run a service with one fault built in, for the crash and shutdown tests:

    python -m tests.support.faulty_service <service> kill-after-commit:<queue>
    python -m tests.support.faulty_service <service> slow-handler:<queue>:<seconds>
    python -m tests.support.faulty_service notifier kill-after-smtp-acceptance

`kill-after-commit` SIGKILLs the process once a batch of <queue> is committed and before
any of it is acknowledged; `slow-handler` holds each message of <queue> that long in its
handler; `kill-after-smtp-acceptance` SIGKILLs the process as soon as an SMTP server has
accepted a message (its reply to DATA), before the sender records anything. The service
itself knows nothing of this: its bus (or its SMTP client) is patched in this process only,
then its `main` runs as `python -m <service>.main` would run it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import runpy
import signal
import sys
from typing import Any

from lre_shared.bus import Bus, Transaction
from lre_shared.bus.consume import Consumer, Delivery, Outcome, Subscription
from lre_shared.contracts import Message
from lre_shared.topology import queue_name

log = logging.getLogger("lre_shared.bus")


def kill_after_commit(queue: str) -> None:
    settle = Consumer.after_commit

    @functools.wraps(settle)
    async def killed(
        self: Consumer, sub: Subscription[Any], batch: list[Delivery], outcomes: list[Outcome]
    ) -> None:
        if sub.queue == queue:
            log.warning("fault injection: killing the process after commit, before ack")
            os.kill(os.getpid(), signal.SIGKILL)
        await settle(self, sub, batch, outcomes)

    Consumer.after_commit = killed  # type: ignore[method-assign]


def kill_after_smtp_acceptance() -> None:
    import aiosmtplib

    sendmail = aiosmtplib.SMTP.sendmail

    @functools.wraps(sendmail)
    async def killed(self: aiosmtplib.SMTP, *args: Any, **kwargs: Any) -> Any:
        accepted = await sendmail(self, *args, **kwargs)
        log.warning("fault injection: killing the process after the SMTP server accepted a message")
        os.kill(os.getpid(), signal.SIGKILL)
        return accepted

    aiosmtplib.SMTP.sendmail = killed  # type: ignore[method-assign]


def slow_handler(queue: str, seconds: float) -> None:
    subscribe = Bus.subscribe

    @functools.wraps(subscribe)
    def subscribed(self: Bus, message_type: type[Message], handler: Any, **options: Any) -> None:
        if queue_name(self.consumer, message_type) == queue:
            handler = _held(handler, queue, seconds)
        subscribe(self, message_type, handler, **options)

    Bus.subscribe = subscribed  # type: ignore[method-assign]


def _held(handler: Any, queue: str, seconds: float) -> Any:
    async def held(message: Message, tx: Transaction) -> Message | None:
        log.warning("fault injection: handler held for %s s", seconds, extra={"queue": queue})
        await asyncio.sleep(seconds)
        return await handler(message, tx)  # type: ignore[no-any-return]

    return held


def inject(fault: str) -> None:
    kind, _, rest = fault.partition(":")
    if kind == "kill-after-commit":
        kill_after_commit(rest)
    elif kind == "kill-after-smtp-acceptance":
        kill_after_smtp_acceptance()
    elif kind == "slow-handler":
        queue, _, seconds = rest.rpartition(":")
        slow_handler(queue, float(seconds))
    else:
        raise SystemExit(f"unknown fault {fault!r}")


def main(argv: list[str]) -> None:
    service, fault = argv
    inject(fault)
    runpy.run_module(f"{service}.main", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
