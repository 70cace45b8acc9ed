"""The pickup service: the recipient's site and the letter's lifecycle on their side."""

from __future__ import annotations

import os

from lre_shared.runtime import ServiceApp, build_app, serve
from pickup.bootstrap import bootstrap
from pickup.entrypoints.site import create_site
from pickup.settings import PickupSettings


def create_app(settings: PickupSettings | None = None) -> ServiceApp:
    settings = settings or PickupSettings()
    runtime = bootstrap(settings)
    return build_app(runtime, site=create_site(runtime, settings))


def run() -> None:
    settings = PickupSettings()
    # The site finds the client address itself, reading X-Forwarded-For only from the proxies
    # in PICKUP_TRUSTED_PROXIES (the per-address limits depend on it): uvicorn must not rewrite
    # the peer from that header first, as it would for a peer on 127.0.0.1 by default.
    os.environ.setdefault("FORWARDED_ALLOW_IPS", "")
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
