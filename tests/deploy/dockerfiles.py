"""The services' one Dockerfile (at the repository root) and what each image is built with.

Every service's image comes from the same file; what differs between them is given as build
arguments: the service's name (`SERVICE`, which names its package `lre-<name>` and its module
`<name>.main`), its settings prefix (`SETTINGS_PREFIX`: its `<NAME>_HTTP_HOST`,
`<NAME>_HTTP_PORT`) and its HTTP port (`HTTP_PORT`). `build_args` derives them from the
service's settings class, so they cannot drift from what the service reads.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
PATH = ROOT / "Dockerfile"
SERVICES = ("archive", "notifier", "pickup", "signer", "verification")


def settings_class(service: str) -> type[BaseSettings]:
    """The service's own settings class (the one its `settings` module defines)."""
    settings = importlib.import_module(f"{service}.settings")
    for value in vars(settings).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseSettings)
            and value.__module__ == settings.__name__
        ):
            return value
    raise LookupError(f"{service}.settings defines no settings class")


def http_port(service: str) -> int:
    """The service's default HTTP port, from its settings class."""
    port = settings_class(service).model_fields["http_port"].default
    assert isinstance(port, int)
    return port


def build_args(service: str) -> dict[str, str]:
    """The `--build-arg`s that make the Dockerfile build this service's image."""
    prefix = str(settings_class(service).model_config.get("env_prefix", ""))
    return {
        "SERVICE": service,
        "SETTINGS_PREFIX": prefix.removesuffix("_"),
        "HTTP_PORT": str(http_port(service)),
    }


def resolve(text: str, args: dict[str, str]) -> str:
    """The Dockerfile as one service's build reads it: every `${NAME}` of a build argument
    replaced by its value (Docker substitutes them in FROM, ENV, COPY and EXPOSE, the shell in
    RUN); other variables, such as `$PATH`, stay as written."""
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), text)
