"""The pickup service: the recipient's site and the letter's lifecycle on their side."""

from __future__ import annotations

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
    serve(create_app(settings), settings, reads_forwarded_for=True)


if __name__ == "__main__":
    run()
