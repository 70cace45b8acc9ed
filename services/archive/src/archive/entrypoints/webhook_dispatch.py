"""The webhook dispatcher: a loop beside the consumers that sends the deliveries due.

Every replica runs one; they share the due rows (`FOR UPDATE SKIP LOCKED`), so adding
replicas adds senders, and a replica that stops mid-call leaves its claim to expire.
"""

from __future__ import annotations

import asyncpg

from archive.adapters.webhook_secrets import SecretBox
from archive.adapters.webhooks import HttpPoster, webhook_units
from archive.service_layer.webhooks import Dispatch, dispatch_due
from lre_shared.clock import Clock
from lre_shared.runtime import PeriodicTask


class WebhookDispatcher:
    def __init__(
        self, poster: HttpPoster, box: SecretBox, dispatch: Dispatch, every_seconds: float, clock: Clock
    ) -> None:
        self._poster = poster
        self._box = box
        self._dispatch = dispatch
        self._clock = clock
        self._task = PeriodicTask("archive-webhooks", self._run, every_seconds)

    async def _run(self, pool: asyncpg.Pool) -> int:
        return await dispatch_due(
            units=webhook_units(lambda: pool, self._box),
            poster=self._poster,
            dispatch=self._dispatch,
            clock=self._clock,
        )

    async def start(self, pool: asyncpg.Pool) -> None:
        await self._task.start(pool)

    async def stop(self) -> None:
        await self._task.stop()
        await self._poster.close()
