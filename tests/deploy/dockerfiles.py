"""The services' Dockerfiles are one template: `services/<name>/Dockerfile` is written from
it for each service, and a test fails when one differs from what the template gives.

    uv run python -m tests.deploy.dockerfiles     # rewrite every services/<name>/Dockerfile

Five files rather than one with a build argument: each service's settings prefix (its
`<NAME>_HTTP_HOST`, `<NAME>_HTTP_PORT`), port and module differ, and `docker build -f
services/<name>/Dockerfile .` stays the one obvious way to build an image.
"""

from __future__ import annotations

import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("archive", "notifier", "pickup", "signer", "verification")

TEMPLATE = """\
# syntax=docker/dockerfile:1
# The {service} service. Build from the repository root (the uv workspace):
#   docker build -f services/{service}/Dockerfile -t lre-{service} .
# Written from one template for every service (tests/deploy/dockerfiles.py): edit it there.
# Only this service and its dependencies (lre-shared, third-party packages) are installed,
# exactly as uv.lock pins them; tests, dev tools and the other services stay out.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# The uv that wrote uv.lock (a newer lock revision is unreadable to an older uv).
FROM ghcr.io/astral-sh/uv:0.13 AS uv

FROM ${{PYTHON_IMAGE}} AS builder
COPY --from=uv /uv /usr/local/bin/uv
# Bytecode compiled at build time: the final root filesystem is read-only.
ENV UV_COMPILE_BYTECODE=1 \\
    UV_LINK_MODE=copy \\
    UV_PYTHON_DOWNLOADS=0 \\
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first, in their own layer: it changes only when uv.lock does.
# uv needs every workspace member's pyproject.toml to read the workspace.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/pyproject.toml
{member_pyprojects}
RUN uv sync --frozen --no-dev --no-install-workspace --package lre-{service}
# Then the code: lre-shared and this service, installed as wheels (not editable), so the
# final stage needs only the virtual environment.
COPY shared shared
COPY services/{service} services/{service}
RUN uv sync --frozen --no-dev --no-editable --package lre-{service}

FROM ${{PYTHON_IMAGE}}
RUN groupadd --system --gid 10001 lre \\
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \\
        --shell /usr/sbin/nologin lre
COPY --from=builder --chown=10001:10001 /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \\
    PYTHONUNBUFFERED=1 \\
    PYTHONDONTWRITEBYTECODE=1 \\
    {prefix}_HTTP_HOST=0.0.0.0 \\
    {prefix}_HTTP_PORT={port}
WORKDIR /app
# Numeric user: Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
EXPOSE {port}
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \\
    CMD {probe} || exit 1
# Connection URLs and keys come from the environment at run time, never from the image.
# SIGTERM stops consuming, lets in-flight messages finish and commit, then exits 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "{service}.main"]
"""


# The image has no curl or wget: Python asks /health/live itself.
PROBE = (
    'python -c "import os, urllib.request; urllib.request.urlopen('
    "'http://127.0.0.1:%s/health/live' % os.environ['{prefix}_HTTP_PORT'], timeout=2)\""
)


def http_port(service: str) -> int:
    """The service's default HTTP port, from its settings class."""
    settings = importlib.import_module(f"{service}.settings")
    cls = next(
        v
        for k, v in vars(settings).items()
        if k.endswith("Settings") and getattr(v, "__module__", None) == settings.__name__
    )
    port = cls.model_fields["http_port"].default
    assert isinstance(port, int)
    return port


def render(service: str) -> str:
    members = "\n".join(f"COPY services/{s}/pyproject.toml services/{s}/pyproject.toml" for s in SERVICES)
    prefix = service.upper()
    return TEMPLATE.format(
        service=service,
        prefix=prefix,
        port=http_port(service),
        member_pyprojects=members,
        probe=PROBE.format(prefix=prefix),
    )


def path(service: str) -> Path:
    return ROOT / "services" / service / "Dockerfile"


def main() -> None:
    for service in SERVICES:
        path(service).write_text(render(service))
        print(f"wrote {path(service).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
