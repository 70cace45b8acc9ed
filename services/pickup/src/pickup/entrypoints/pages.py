"""What every page of the pickup site shares: the site's parts, and where a recipient stands.

The pickup site (relevé du pli): the recipient's pages, server-rendered, French first.

Nothing about a letter is shown to a visitor who has not passed the identity step, and
the sender stays hidden until acceptance (CPCE R.53-3). The journey: item number →
identity → accept or refuse → sign the acknowledgement of receipt (personal certificate
or one-time code) → downloads for 48 hours from the signature. Each page sends a visitor
who is not at its step to the step they are at.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lre_shared.clock import Clock
from lre_shared.rules import RulesProfile
from pickup.domain.letter import LetterView
from pickup.entrypoints.guards import Guards
from pickup.entrypoints.rendering import Pages
from pickup.entrypoints.visits import Visits
from pickup.service_layer.ports import Archive, IdentityProvider, OtherServices, ServiceUnavailable, Storage
from pickup.settings import PickupSettings

# A route's function, and a page of the identified letter with the site's parts.
Endpoint = Callable[[Request], Awaitable[Response]]
LetterPage = Callable[[Request, "Site", LetterView], Awaitable[Response]]

# How long after this site records a step the other services may still be hearing of it.
CATCH_UP = timedelta(minutes=2)


@dataclass(frozen=True)
class Site:
    """The parts the pages are built from; `create_site` puts it in the app's state."""

    settings: PickupSettings
    rules: RulesProfile
    clock: Clock
    storage: Storage  # this site's records
    services: OtherServices  # the other services, over the bus
    archive: Archive  # the letter's content
    pages: Pages  # templates and texts
    visits: Visits  # sessions
    guards: Guards  # per-address limits and holds
    # The recipients' identity provider (CPCE R.53-1), when one is configured.
    identity_provider: IdentityProvider | None = None

    def catching_up(self, recorded_at: datetime | None, refusal: str) -> None:
        """Another service refused what this site's own record allows (the acceptance, the
        signature): when the record is fresh, that service has not heard of it yet (events go
        by the bus, a moment after this site recorded them) and a retry shortly after will
        do: the page asking to retry (503). Older refusals are the caller's to show."""
        if self.clock() - (recorded_at or self.clock()) < CATCH_UP:
            raise ServiceUnavailable(refusal)

    def download_window_ends_at(self, letter: LetterView) -> datetime | None:
        # The rules profile's, as the archive's: the window runs from the AR's signature, when
        # the content became available, not from the acceptance.
        if letter.signed_at is None:
            return None
        return self.rules.download_window_ends_at(letter.signed_at)


def site_of(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def step_of(letter: LetterView) -> str:
    """Where the recipient of `letter` stands in the journey."""
    if letter.state != "accepted":
        return "/decision"  # awaiting, refused or unclaimed: the decision page says which
    if letter.signed_at is None:
        return "/signature"
    return "/courrier"


async def letter_at(request: Request, step: str) -> LetterView | Response:
    """The identified letter when its recipient stands at `step`, else where to go."""
    letter = await site_of(request).visits.identified_letter(request)
    if letter is None:
        return RedirectResponse("/", 303)
    if step_of(letter) != step:
        return RedirectResponse(step_of(letter), 303)
    return letter
