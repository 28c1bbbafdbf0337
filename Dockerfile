# Driftline service image for Cloud Run: `docker build -t driftline .` (see docs/deploy.md).
#
# Two stages: the builder has compilers and installs every pinned requirement into a virtual
# environment; the runtime stage copies that environment only, so no compiler, pip cache or
# source tree ends up in the final image. Secrets never go in here: Cloud Run injects them from
# Secret Manager as environment variables at start.
# tests/test_dockerfile.py replays these steps in a fresh virtualenv (Docker is not available in CI).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/driftline
# Only for requirements that ship no wheel for this platform; this stage is thrown away.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
RUN python -m venv $VIRTUAL_ENV
WORKDIR /src
# Requirements first: the slow layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN $VIRTUAL_ENV/bin/python -m pip install -r requirements.txt
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY alerts ./alerts
COPY reports ./reports
RUN $VIRTUAL_ENV/bin/python -m pip install --no-deps .

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/driftline \
    PATH=/opt/driftline/bin:$PATH \
    DRIFTLINE_CONFIG_DIR=/etc/driftline \
    DRIFTLINE_AUTH_MODE=google \
    DRIFTLINE_LOG_JSON=true \
    PORT=8080
RUN groupadd --system --gid 10001 driftline \
    && useradd --system --uid 10001 --gid driftline --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin driftline
COPY --from=builder /opt/driftline /opt/driftline
# Model configs (*.yaml) go in $DRIFTLINE_CONFIG_DIR, mounted or copied by a derived image (docs/deploy.md).
WORKDIR /app
USER 10001:10001
EXPOSE 8080
# Cloud Run ignores HEALTHCHECK (it probes the port); docker and compose use it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]
# Shell form so ${PORT} (Cloud Run's contract) expands; exec so uvicorn gets SIGTERM directly.
CMD exec python -m uvicorn monitor.api.app:app --host 0.0.0.0 --port ${PORT:-8080} --proxy-headers --forwarded-allow-ips "*"
