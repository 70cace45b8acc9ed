"""The verification service: identity verification desk and one-time codes."""

from __future__ import annotations

from lre_shared.runtime import ServiceApp, build_app, serve
from verification.bootstrap import bootstrap
from verification.settings import VerificationSettings


def create_app(settings: VerificationSettings | None = None) -> ServiceApp:
    return build_app(bootstrap(settings or VerificationSettings()))


def run() -> None:
    settings = VerificationSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
