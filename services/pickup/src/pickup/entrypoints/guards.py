"""What keeps guessing slow: wrong answers per client address (`service_layer.limits`) and
the holds on one item after wrong answers (`domain.locks`), each with its locked page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import HTMLResponse

from lre_shared.clock import Clock
from lre_shared.contracts import LockKind
from lre_shared.proxies import Network, client_address
from pickup.domain.letter import LetterView
from pickup.domain.locks import HoldRules, Holds
from pickup.entrypoints.rendering import Pages
from pickup.service_layer import limits
from pickup.service_layer.limits import AddressLimits, Guess
from pickup.service_layer.ports import Storage


@dataclass(frozen=True)
class Guards:
    storage: Storage
    pages: Pages
    clock: Clock
    address_limits: AddressLimits
    proxies: tuple[Network, ...]
    # The holds' rules by kind of answer (identity, code).
    hold_rules: dict[LockKind, HoldRules]

    # ------------------------------------------------------------ per-address limits

    def address(self, request: Request) -> str:
        return client_address(request, self.proxies)

    async def address_locked(self, request: Request, kind: Guess) -> HTMLResponse | None:
        """The lockout page when this client address may not try `kind` now."""
        until = await limits.locked_until(self.storage, kind, self.address(request), self.clock())
        return None if until is None else self.pages.locked(request, "address", until)

    async def wrong_answer(self, request: Request, kind: Guess) -> HTMLResponse | None:
        """Count a wrong answer from this address; the lockout page if it just locked."""
        until = await limits.record_failure(
            self.storage, kind, self.address(request), self.address_limits, self.clock()
        )
        return None if until is None else self.pages.locked(request, "address", until)

    # ------------------------------------------------------- holds on one item (domain.locks)

    def held(self, request: Request, letter: LetterView, kind: LockKind) -> HTMLResponse | None:
        """The locked page, with its end, while a hold keeps this client address out of the
        item's `kind` step."""
        stored = letter.identity_holds if kind is LockKind.identity else letter.code_holds
        until = Holds.from_json(stored).held_until(self.address(request), self.clock())
        return None if until is None else self.item_locked(request, kind, until)

    def item_locked(self, request: Request, kind: LockKind, until: datetime) -> HTMLResponse:
        return self.pages.locked(request, "item" if kind is LockKind.identity else "code", until)


def hold_rules(max_failures: int, delays_minutes: Sequence[int], hold_addresses: int) -> HoldRules:
    return HoldRules(
        max_failures=max_failures,
        delays=tuple(timedelta(minutes=m) for m in delays_minutes),
        hold_addresses=hold_addresses,
    )
