"""What the browser tests pass around: a deposited letter as its recipient knows it, and the
fixtures' callables that deposit letters and open visitors' tabs."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from lre_shared.contracts import Recipient, Sender
from tests.browser.harness import Walk


@dataclass(frozen=True)
class Letter:
    """A deposited letter, as its recipient knows it from the notice."""

    letter_id: uuid.UUID
    item_number: str
    sender: Sender
    recipient: Recipient
    documents: dict[str, bytes]
    notice: EmailMessage


Deposit = Callable[..., Awaitable[Letter]]


class Visitor(Protocol):
    """Opens the tab of a new visitor (own cookies); `phone` gives it a phone's screen."""

    def __call__(self, name: str, phone: bool = False) -> Awaitable[Walk]: ...
