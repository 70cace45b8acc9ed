"""The verification service: identity verification desk and one-time codes."""

from __future__ import annotations

from lre_shared.runtime import ServiceApp, build_app, serve
from verification.bootstrap import build
from verification.settings import VerificationSettings


def create_app(settings: VerificationSettings | None = None) -> ServiceApp:
    desk = build(settings or VerificationSettings())
    return build_app(desk.runtime, site=desk.site())


def run() -> None:
    settings = VerificationSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
