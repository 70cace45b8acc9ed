# syntax=docker/dockerfile:1
# Every service's image, from this one file. Build from the repository root (the uv
# workspace), naming the service, its settings prefix and its HTTP port:
#   docker build --build-arg SERVICE=archive --build-arg SETTINGS_PREFIX=ARCHIVE \
#       --build-arg HTTP_PORT=8101 -t lre-archive .
# deploy/compose/compose.yaml gives each service's arguments; tests/deploy checks them
# against the services' settings.
# Only this service and its dependencies (lre-shared, third-party packages) are installed,
# exactly as uv.lock pins them; tests, dev tools and the other services stay out.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# The uv that wrote uv.lock (a newer lock revision is unreadable to an older uv).
FROM ghcr.io/astral-sh/uv:0.13 AS uv

FROM ${PYTHON_IMAGE} AS builder
# No defaults: an image is always built for one named service.
ARG SERVICE
ARG SETTINGS_PREFIX
ARG HTTP_PORT
RUN test -n "${SERVICE}" && test -n "${HTTP_PORT}" \
    && test "${SETTINGS_PREFIX}" = "$(echo "${SERVICE}" | tr a-z A-Z)" \
    || { echo "name the service: --build-arg SERVICE=<name> --build-arg SETTINGS_PREFIX=<NAME>" \
            "--build-arg HTTP_PORT=<port> (each service's are in deploy/compose/compose.yaml)" >&2; \
        exit 1; }
COPY --from=uv /uv /usr/local/bin/uv
# Bytecode compiled at build time: the final root filesystem is read-only.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first, in their own layer: it changes only when uv.lock does.
# uv needs every workspace member's pyproject.toml to read the workspace.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/pyproject.toml
COPY services/archive/pyproject.toml services/archive/pyproject.toml
COPY services/notifier/pyproject.toml services/notifier/pyproject.toml
COPY services/pickup/pyproject.toml services/pickup/pyproject.toml
COPY services/signer/pyproject.toml services/signer/pyproject.toml
COPY services/verification/pyproject.toml services/verification/pyproject.toml
RUN uv sync --frozen --no-dev --no-install-workspace --package "lre-${SERVICE}"
# Then the code: lre-shared and this service, installed as wheels (not editable), so the
# final stage needs only the virtual environment.
COPY shared shared
COPY services/${SERVICE} services/${SERVICE}
RUN uv sync --frozen --no-dev --no-editable --package "lre-${SERVICE}"

FROM ${PYTHON_IMAGE}
ARG SERVICE
ARG SETTINGS_PREFIX
ARG HTTP_PORT
RUN groupadd --system --gid 10001 lre \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin lre
COPY --from=builder --chown=10001:10001 /app/.venv /app/.venv
# CMD and HEALTHCHECK take no build arguments: they find the service in LRE_SERVICE at run time.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LRE_SERVICE=${SERVICE} \
    ${SETTINGS_PREFIX}_HTTP_HOST=0.0.0.0 \
    ${SETTINGS_PREFIX}_HTTP_PORT=${HTTP_PORT}
WORKDIR /app
# Numeric user: Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
EXPOSE ${HTTP_PORT}
# The image has no curl or wget: Python asks /health/live itself, on the port the service's
# settings read (<SETTINGS_PREFIX>_HTTP_PORT, which may be changed at run time).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; port = os.environ[os.environ['LRE_SERVICE'].upper() + '_HTTP_PORT']; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % port, timeout=2)" || exit 1
# Connection URLs and keys come from the environment at run time, never from the image.
# SIGTERM stops consuming, lets in-flight messages finish and commit, then exits 0; `exec`
# makes Python the container's first process, so the signal reaches it.
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec python -m \"${LRE_SERVICE}.main\""]
