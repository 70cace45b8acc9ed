"""The archive service: letter intake and the store of everything the platform keeps."""

from __future__ import annotations

from archive.bootstrap import bootstrap, http_site
from archive.settings import ArchiveSettings
from lre_shared.runtime import ServiceApp, build_app, serve


def create_app(settings: ArchiveSettings | None = None) -> ServiceApp:
    settings = settings or ArchiveSettings()
    runtime = bootstrap(settings)
    return build_app(runtime, site=http_site(runtime, settings))


def run() -> None:
    settings = ArchiveSettings()
    serve(create_app(settings), settings, reads_forwarded_for=True)


if __name__ == "__main__":
    run()
