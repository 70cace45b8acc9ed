"""One thread running one event loop, for pyHanko's work off the service's event loop.

pyHanko's API is async, and its HTTP clients (TSA, OCSP, CRL) keep an aiohttp session per
event loop. A long-lived loop in its own thread keeps those sessions (and their TLS
contexts and connections) for the life of the sealer, instead of building them for every
seal; the CPU work of signing runs there too, never on the loop that consumes messages.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class WorkerLoop:
    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the worker loop; block the calling thread until it is done."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    async def run_async(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the worker loop; the caller's loop stays free meanwhile."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    def close(self) -> None:
        """Stop the loop; its sessions are closed by whoever owns them, before this."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
