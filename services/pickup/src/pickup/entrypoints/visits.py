"""A visitor's session: the signed cookie holds what the visitor was granted (the item, then
the identified letter) and names a server-side session that can be ended
(`pickup.service_layer.sessions`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from starlette.requests import Request

from pickup.domain.letter import LetterView
from pickup.entrypoints.translations import LANGUAGES
from pickup.service_layer import handlers, sessions
from pickup.service_layer.ports import Storage

# What a session holds once the visitor is past the item number step.
GRANTS = ("item", "identified", "sid")


def signed_in(session: dict[str, Any]) -> bool:
    return any(key in session for key in GRANTS)


def forget(session: dict[str, Any]) -> None:
    """Empty the session but for the visitor's language."""
    language = session.get("lang")
    session.clear()
    if language in LANGUAGES:
        session["lang"] = language


@dataclass(frozen=True)
class Visits:
    storage: Storage
    idle: timedelta

    def touch(self, request: Request) -> bool:
        """Keep the session alive; False once it has been idle too long."""
        now = int(time.time())
        seen = request.session.get("seen")
        if isinstance(seen, int) and now - seen > self.idle.total_seconds():
            forget(request.session)
            return False
        request.session["seen"] = now
        return True

    async def renew(self, request: Request, previous: object = None) -> None:
        """A new server-side session for this cookie; the one it had (or `previous`) ends."""
        previous = previous or request.session.get("sid")
        request.session["sid"] = await sessions.begin(
            self.storage, self.idle, previous if isinstance(previous, str) else None
        )

    async def live(self, session: dict[str, Any]) -> bool:
        """Whether a session that grants a step still has its server-side session."""
        if not signed_in(session):
            return True
        session_id = session.get("sid")
        return isinstance(session_id, str) and await sessions.live(self.storage, session_id, self.idle)

    async def sign_out(self, request: Request) -> None:
        session_id = request.session.get("sid")
        if isinstance(session_id, str):
            await sessions.end(self.storage, session_id)
        forget(request.session)

    async def identified_letter(self, request: Request) -> LetterView | None:
        if not self.touch(request):
            return None
        letter_id = request.session.get("identified")
        if not isinstance(letter_id, str):
            return None
        return await handlers.find(self.storage, UUID(letter_id))
