"""The archive service: letter intake and the store of everything the platform keeps."""

from __future__ import annotations

import os

from archive.bootstrap import bootstrap, http_site
from archive.settings import ArchiveSettings
from lre_shared.runtime import ServiceApp, build_app, serve


def create_app(settings: ArchiveSettings | None = None) -> ServiceApp:
    settings = settings or ArchiveSettings()
    runtime = bootstrap(settings)
    return build_app(runtime, site=http_site(runtime, settings))


def run() -> None:
    settings = ArchiveSettings()
    # The API finds the client address itself, reading X-Forwarded-For only from the proxies in
    # ARCHIVE_TRUSTED_PROXIES (the limit on failed API keys depends on it): uvicorn must not
    # rewrite the peer from that header first, as it would for a peer on 127.0.0.1 by default.
    os.environ.setdefault("FORWARDED_ALLOW_IPS", "")
    serve(create_app(settings), settings)


if __name__ == "__main__":
    run()
