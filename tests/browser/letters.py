"""What the browser tests pass around: a deposited letter as its recipient knows it, and the
fixtures' callables that deposit letters and open visitors' tabs."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage

from lre_shared.messages import Recipient, Sender
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
Visitor = Callable[[str], Awaitable[Walk]]
