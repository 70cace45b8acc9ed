"""Documents generated from code: what `docs/generate.py` writes under `docs/`.

- the AsyncAPI description of a service, from its broker as `bootstrap()` wires it, each
  consumed message's payload pointing at its contract schema in `docs/contracts/`;
- an OpenAPI description of a service's HTTP routes (health endpoints, and the routes of
  its site), built from the Starlette routes: their paths, methods and path parameters;
- Markdown tables of a service's settings, from its `Settings` class, spliced between
  markers into a hand-written document.

Generating needs no server: the services are built with placeholder settings and never
started. The service-specific wiring lives outside `lre_shared` (it imports no service).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from faststream.specification import AsyncAPI
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings
from starlette.routing import BaseRoute, Mount, Route

from lre_shared.contracts import Message
from lre_shared.runtime import ServiceRuntime
from lre_shared.schemas import file_name

# Placeholder connection URLs for building a service without starting it.
PLACEHOLDER_AMQP_URL = "amqp://lre:secret@rabbitmq:5672/lre"
PLACEHOLDER_DATABASE_URL = "postgresql://lre@postgres:5432/lre"


def render_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- AsyncAPI


def asyncapi(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    version: str,
    publishes: Sequence[type[Message]] = (),
) -> dict[str, Any]:
    """The AsyncAPI 3.0 description of what the service consumes (from its broker) and of
    the events it publishes (`publishes`: they go through the outbox, not a FastStream
    publisher, so the broker does not know them)."""
    bus = runtime.bus
    spec = AsyncAPI(
        bus.broker, title=title, description=description, version=version, schema_version="3.0.0"
    ).to_specification()
    document: dict[str, Any] = spec.to_jsonable()
    # The subscribers take the undecoded message (the bus parses it with the contract), so
    # FastStream knows no payload: point each at the message's committed JSON Schema.
    schemas = document.get("components", {}).get("schemas", {})
    for sub in bus.subscriptions:
        for name in list(schemas):
            if name.startswith(f"{sub.queue}:"):
                schemas[name] = {
                    "$ref": f"../contracts/{file_name(sub.message_type)}",
                    "x-exchange": sub.message_type.exchange,
                    "x-routing-key": sub.message_type.routing_key,
                }
    for message_type in publishes:
        _add_publication(document, message_type)
    return document


def _add_publication(document: dict[str, Any], message_type: type[Message]) -> None:
    key = f"{message_type.exchange}.{message_type.routing_key}"
    name = f"{key}:Message"
    channel: dict[str, Any] = {
        "address": message_type.routing_key,
        "description": (message_type.__doc__ or "").strip(),
        "messages": {"Message": {"$ref": f"#/components/messages/{name}"}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {"name": message_type.exchange, "type": "topic", "durable": True},
                "bindingVersion": "0.3.0",
            }
        },
    }
    document.setdefault("channels", {})[key] = channel
    # A message routed by what it says (`SenderEvent`: `{sender_id}.{event}`) has an address
    # with parameters, each described by the field it comes from.
    pattern: str | None = getattr(message_type, "routing_key_pattern", None)
    if pattern is not None:
        channel["address"] = pattern
        channel["parameters"] = {
            word: _parameter(message_type, word) for word in re.findall(r"{(\w+)}", pattern)
        }
    document.setdefault("operations", {})[key] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{key}"},
        "messages": [{"$ref": f"#/channels/{key}/messages/Message"}],
        "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": "0.3.0"}},
    }
    document.setdefault("components", {}).setdefault("messages", {})[name] = {
        "title": name,
        "correlationId": {"location": "$message.header#/correlation_id"},
        "payload": {"$ref": f"../contracts/{file_name(message_type)}"},
    }


def _parameter(message_type: type[Message], name: str) -> dict[str, Any]:
    field = message_type.model_fields[name]
    parameter: dict[str, Any] = {
        "description": field.description or f"the message's `{name}`",
        "location": f"$message.payload#/{name}",
    }
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        parameter["enum"] = [member.value for member in annotation]
    return parameter


# ---------------------------------------------------------------------------- OpenAPI

_PARAMETER = re.compile(r"{(\w+)(?::(\w+))?}")
_CONVERTOR_SCHEMAS: dict[str, dict[str, str]] = {
    "str": {"type": "string"},
    "path": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}


@dataclass(frozen=True)
class HttpRoute:
    path: str
    methods: tuple[str, ...]
    summary: str


# What `lre_shared.runtime.build_app` serves in every service, before the service's own site.
RUNTIME_ROUTES: tuple[HttpRoute, ...] = (
    HttpRoute("/health/live", ("GET",), "liveness: 200 while the process runs"),
    HttpRoute(
        "/health/ready",
        ("GET",),
        "readiness: 200 once migrated, connected and consuming; else 503, its `reason` saying why",
    ),
    HttpRoute("/metrics", ("GET",), "Prometheus metrics (lre_shared.metrics)"),
)


def http_routes(routes: Iterable[BaseRoute], prefix: str = "") -> list[HttpRoute]:
    found: list[HttpRoute] = []
    for route in routes:
        if isinstance(route, Route):
            methods = tuple(sorted(m for m in (route.methods or {"GET"}) if m != "HEAD"))
            found.append(HttpRoute(prefix + route.path, methods, _summary(route.endpoint)))
        elif isinstance(route, Mount):
            if route.routes:
                found.extend(http_routes(route.routes, prefix + route.path))
            else:  # an app mounted whole, e.g. static files
                found.append(
                    HttpRoute(prefix + route.path + "/{path:path}", ("GET",), "files under this path")
                )
    return found


def openapi(routes: Sequence[HttpRoute], *, title: str, description: str, version: str) -> dict[str, Any]:
    """A minimal OpenAPI 3.1 document: paths, methods, path parameters, a summary each."""
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(routes, key=lambda r: r.path):
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _CONVERTOR_SCHEMAS.get(convertor or "str", {"type": "string"}),
            }
            for name, convertor in _PARAMETER.findall(route.path)
        ]
        path = _PARAMETER.sub(lambda m: "{" + m.group(1) + "}", route.path)
        operations = paths.setdefault(path, {})
        for method in route.methods:
            operation: dict[str, Any] = {
                "summary": route.summary,
                "operationId": _operation_id(method, path),
                "responses": {"default": {"description": "see the service's README"}},
            }
            if parameters:
                operation["parameters"] = parameters
            operations[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "description": description, "version": version},
        "paths": paths,
    }


def _summary(endpoint: Any) -> str:
    doc = (getattr(endpoint, "__doc__", None) or "").strip()
    if doc:
        return doc.splitlines()[0]
    return getattr(endpoint, "__name__", "endpoint").replace("_", " ").strip()


def _operation_id(method: str, path: str) -> str:
    words = re.findall(r"\w+", path) or ["root"]
    return "_".join([method.lower(), *words])


# ---------------------------------------------------------------------------- settings


def settings_table(settings: type[BaseSettings]) -> str:
    """One row per setting: environment variable, type, default (or "required"), meaning."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    rows = [
        "| environment variable | type | default | description |",
        "|---|---|---|---|",
    ]
    for name, field in settings.model_fields.items():
        env = (prefix + name).upper()
        rows.append(
            f"| `{env}` | {_cell(_type_name(field))} | {_cell(_default(field))} | "
            f"{_cell(field.description or '')} |"
        )
    return "\n".join(rows) + "\n"


def _type_name(field: FieldInfo) -> str:
    annotation = field.annotation
    text = getattr(annotation, "__name__", None) if not _is_generic(annotation) else None
    text = text or str(annotation)
    text = re.sub(r"\b(?:typing|pathlib|pydantic\.types|builtins)\.", "", text)
    # A contract's type is named as it is imported, not by the owner's module it lives in.
    text = re.sub(r"\blre_shared\.contracts\.\w+\.", "lre_shared.contracts.", text)
    return f"`{text.replace('NoneType', 'None')}`"


def _is_generic(annotation: Any) -> bool:
    return hasattr(annotation, "__args__")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    default = field.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    if isinstance(default, SecretStr):
        return "(secret)"
    if default is PydanticUndefined:
        return "**required**"
    if isinstance(default, frozenset | set):
        return f"`{json.dumps(sorted(map(str, default)))}`"
    if isinstance(default, tuple | list):  # in order: a schedule's order is its meaning
        return f"`{json.dumps([v if isinstance(v, int | float) else str(v) for v in default])}`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# ---------------------------------------------------------------------------- markers


def begin_marker(name: str) -> str:
    return f"<!-- BEGIN GENERATED: {name} (python -m docs.generate; do not edit by hand) -->"


def end_marker(name: str) -> str:
    return f"<!-- END GENERATED: {name} -->"


def splice(text: str, name: str, content: str) -> str:
    """Replace what lies between the markers `name` in `text` with `content`."""
    begin, end = begin_marker(name), end_marker(name)
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"markers for {name!r} missing: add the lines\n{begin}\n{end}")
    return text[: start + len(begin)] + "\n\n" + content.strip("\n") + "\n\n" + text[stop:]
