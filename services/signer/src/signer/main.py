"""The signer service: sealed, timestamped evidence of every event."""

from __future__ import annotations

from lre_shared.runtime import ServiceApp, build_app, serve
from signer.bootstrap import bootstrap
from signer.settings import SignerSettings


def create_app(settings: SignerSettings | None = None) -> ServiceApp:
    return build_app(bootstrap(settings or SignerSettings()))


def run() -> None:
    settings = SignerSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
