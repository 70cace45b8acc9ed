"""The notifier service: notices, reminders and one-time codes to recipients."""

from __future__ import annotations

from lre_shared.runtime import ServiceApp, build_app, serve
from notifier.bootstrap import bootstrap
from notifier.settings import NotifierSettings


def create_app(settings: NotifierSettings | None = None) -> ServiceApp:
    return build_app(bootstrap(settings or NotifierSettings()))


def run() -> None:
    settings = NotifierSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
