"""Regenerate every generated document under docs/:

- docs/contracts/<routing key>.schema.json   message schemas (lre_shared.schemas)
- docs/asyncapi/<service>.json               what each service consumes (AsyncAPI 3.0)
- docs/openapi/<service>.json                each service's HTTP routes (OpenAPI 3.1)
- docs/OPERATIONS.md                         the settings tables, between their markers

    uv run python -m docs.generate           write them
    uv run python -m docs.generate --check   exit 1, naming the stale files, if any differs

It lives here, not in lre_shared, because it imports every service and lre_shared imports
none. Each service is built by its own bootstrap with placeholder settings, never started.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings
from starlette.routing import BaseRoute

from lre_shared import docs, schemas
from lre_shared.contracts import ALL_MESSAGES
from lre_shared.runtime import ServiceRuntime
from lre_shared.topology import SENDERS_EVENTS_EXCHANGE, Service, events_exchange

DOCS = Path(__file__).resolve().parent
VERSION = "1"  # the documents' own version: message versions are in their routing keys
COMMON = "common"  # the settings every service shares (lre_shared.settings)
PLACEHOLDERS = {"amqp_url": docs.PLACEHOLDER_AMQP_URL, "database_url": docs.PLACEHOLDER_DATABASE_URL}

S = TypeVar("S", bound=BaseSettings)


def placeholder(settings: type[S], **values: Any) -> S:
    """Settings from these values only: `model_validate` skips the environment, so what
    is generated never depends on the machine that generates it."""
    return settings.model_validate({**PLACEHOLDERS, **values})


@dataclass(frozen=True)
class Built:
    settings: type[BaseSettings]
    runtime: ServiceRuntime
    site_routes: list[BaseRoute]
    description: str
    extra: dict[str, Any] = field(default_factory=dict)  # further documents: path under docs/ → JSON


def _archive() -> Built:
    from archive.bootstrap import bootstrap, http_site
    from archive.settings import ArchiveSettings

    settings = placeholder(
        ArchiveSettings,
        s3_endpoint="http://s3:8333",
        s3_access_key="key",
        s3_secret_key="placeholder",  # noqa: S106
        zip_link_key="placeholder-" + "z" * 32,
        webhook_secrets_key="placeholder-" + "w" * 32,
    )
    runtime = bootstrap(settings)
    site = http_site(runtime, settings)
    return Built(ArchiveSettings, runtime, site.routes, "Letter intake and the store of content.")


def _notifier() -> Built:
    from notifier.bootstrap import build
    from notifier.entrypoints.web import create_site
    from notifier.settings import NotifierSettings

    settings = placeholder(
        NotifierSettings,
        smtp_host="smtp",
        mail_from="notifications@lre.example",
        pickup_url="https://lre.example/",
    )
    notifier = build(settings)
    site = create_site(lambda: notifier.runtime.pool, own_url=settings.own_url, twilio_auth_token=None)
    return Built(NotifierSettings, notifier.runtime, site.routes, "Notices, reminders and one-time codes.")


def _pickup() -> Built:
    from pickup.bootstrap import bootstrap
    from pickup.entrypoints.site import create_site
    from pickup.settings import PickupSettings

    settings = placeholder(PickupSettings, public_url="https://lre.example/", session_secret="x" * 32)
    runtime = bootstrap(settings)
    site = create_site(runtime, settings)
    return Built(PickupSettings, runtime, site.routes, "The recipient's site and the letter's lifecycle.")


def _signer() -> Built:
    from signer.bootstrap import bootstrap
    from signer.settings import SignerSettings

    return Built(
        SignerSettings, bootstrap(placeholder(SignerSettings)), [], "Evidence records, sealed and chained."
    )


def _verification() -> Built:
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Mount, Route

    from verification.bootstrap import build
    from verification.entrypoints.desk import desk_api
    from verification.settings import VerificationSettings

    settings = placeholder(
        VerificationSettings,
        code_hmac_key="placeholder-" + "k" * 32,
        document_key="placeholder-" + "d" * 32,
        s3_endpoint="http://s3:8333",
        s3_access_key="key",
        s3_secret_key="placeholder",  # noqa: S106
        oidc_issuer="https://idp.example",
        oidc_jwks_url="https://idp.example/.well-known/jwks.json",
    )
    desk = build(settings)
    api = desk_api(desk.api)
    # The API is a FastAPI app mounted in the site: its routes listed one by one.
    site_routes = [route for route in desk.site().routes if not isinstance(route, Mount)]
    site_routes += [
        Route(route.path, route.endpoint, methods=sorted(route.methods or ()))
        for route in iter_route_contexts(api.routes)
        if route.path is not None and route.endpoint is not None
    ]
    return Built(
        VerificationSettings,
        desk.runtime,
        site_routes,
        "The verification desk.",
        # The desk API for support UIs, with its bodies and answers, as FastAPI describes it
        # (the routes above only list it).
        extra={"openapi/verification-desk.json": api.openapi()},
    )


# Exchanges a service publishes on besides its own events exchange: the archive is the one
# voice towards sender systems (`archive.service_layer.sender_events`).
ALSO_PUBLISHES: dict[Service, tuple[str, ...]] = {service: () for service in Service} | {
    Service.archive: (SENDERS_EVENTS_EXCHANGE,)
}

BUILDERS: dict[Service, Callable[[], Built]] = {
    Service.archive: _archive,
    Service.notifier: _notifier,
    Service.pickup: _pickup,
    Service.signer: _signer,
    Service.verification: _verification,
}


def render_all(root: Path = DOCS) -> dict[Path, str]:
    """Every generated document: path → content."""
    from lre_shared.settings import ServiceSettings

    out: dict[Path, str] = {
        root / "contracts" / schemas.file_name(m): schemas.render(m) for m in ALL_MESSAGES
    }
    operations = (root / "OPERATIONS.md").read_text()
    operations = docs.splice(operations, f"settings:{COMMON}", docs.settings_table(ServiceSettings))
    for service, build in BUILDERS.items():
        built = build()
        title = f"lre-{service}"
        out[root / "asyncapi" / f"{service}.json"] = docs.render_json(
            docs.asyncapi(
                built.runtime,
                title=title,
                description=built.description,
                version=VERSION,
                # Events are published on the publisher's own exchange (and, by the archive,
                # the senders' one); who sends a command is not in the code's types, so
                # commands appear only where consumed.
                publishes=[
                    m
                    for m in ALL_MESSAGES
                    if m.exchange in (events_exchange(service), *ALSO_PUBLISHES[service])
                ],
            )
        )
        routes = [*docs.RUNTIME_ROUTES, *docs.http_routes(built.site_routes)]
        out[root / "openapi" / f"{service}.json"] = docs.render_json(
            docs.openapi(routes, title=title, description=built.description, version=VERSION)
        )
        for path, document in built.extra.items():
            out[root / path] = docs.render_json(document)
        operations = docs.splice(operations, f"settings:{service}", docs.settings_table(built.settings))
    out[root / "OPERATIONS.md"] = operations
    return out


def stale(root: Path = DOCS) -> list[Path]:
    return sorted(
        path for path, text in render_all(root).items() if not path.exists() or path.read_text() != text
    )


def write_all(root: Path = DOCS) -> list[Path]:
    written = []
    for path, text in render_all(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m docs.generate", description="Regenerate the documents under docs/."
    )
    parser.add_argument("--check", action="store_true", help="only report stale documents")
    args = parser.parse_args(argv)
    # The services warn at build time about what placeholder settings leave unset (no seal
    # key, any sender): true of these throwaway builds, noise here.
    logging.disable(logging.WARNING)
    if args.check:
        outdated = stale()
        for path in outdated:
            print(f"stale: {path} (run `make docs`)", file=sys.stderr)
        return 1 if outdated else 0
    for path in write_all():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
