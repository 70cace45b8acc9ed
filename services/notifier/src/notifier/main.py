"""The notifier service: notices, reminders and one-time codes to recipients."""

from __future__ import annotations

from lre_shared.runtime import ServiceApp, build_app, serve
from notifier.bootstrap import build
from notifier.entrypoints.web import create_site
from notifier.settings import NotifierSettings


def create_app(settings: NotifierSettings | None = None) -> ServiceApp:
    settings = settings or NotifierSettings()
    notifier = build(settings)
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
    site = create_site(lambda: notifier.runtime.pool, own_url=settings.own_url, twilio_auth_token=token)
    return build_app(notifier.runtime, site=site)


def run() -> None:
    settings = NotifierSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
