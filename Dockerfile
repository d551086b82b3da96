# syntax=docker/dockerfile:1
# Shipyard's image: one image for web, worker, scheduler and migrate (compose.yaml picks the command).
# Multi-stage: the build stage has uv and the lockfile; the runtime stage only the virtualenv.
# Runs as a non-root user and works with a read-only root filesystem (only /tmp is writable).
# Built and pushed by .github/workflows/deploy.yml (ghcr.io, tagged with the commit SHA); the build
# machines have no Docker engine, so the suite checks it with hadolint and structurally.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/shipyard/.venv
WORKDIR /src
# Dependencies first: this layer is reused until the lockfile changes.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev --no-install-project
COPY src ./src
# The project itself as a regular (non-editable) install: the runtime stage needs no source tree.
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 shipyard \
    && useradd --system --uid 10001 --gid shipyard --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin shipyard
COPY --from=build /opt/shipyard/.venv /opt/shipyard/.venv
COPY deploy/gunicorn.conf.py /opt/shipyard/deploy/gunicorn.conf.py
ENV PATH=/opt/shipyard/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHIPYARD_ENV=production \
    SHIPYARD_LOG_FORMAT=json \
    SHIPYARD_DATA_DIR=/tmp/shipyard \
    SHIPYARD_BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
WORKDIR /opt/shipyard
# Numeric IDs (the ones created above): a runtime checks "non-root" without reading /etc/passwd (DL3066).
USER 10001:10001
EXPOSE 8000
# Liveness only (/health touches no dependency); compose.yaml's depends_on uses it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]
CMD ["gunicorn", "--config", "/opt/shipyard/deploy/gunicorn.conf.py"]
