# syntax=docker/dockerfile:1
# slackclone's production image: `docker build -t slackclone .` (docker-compose.yml builds it).
# Two stages: the build stage installs the runtime requirements into a virtualenv and
# collects the static files; the runtime stage copies only those, and runs as a
# non-root user. One server process per container: run N containers for N processes
# (docker compose: APP_PROCESSES; docs/deployment.md). Uploaded files go to /data/files
# (FILES_ROOT): mount ONE volume there shared by every container, or set STORAGE_URL
# to an S3-compatible store; a container's own filesystem would keep each upload on
# the one container that received it, and lose it with the container.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /venv
WORKDIR /src
COPY requirements.txt .
# Only the "# Runtime" part of requirements.txt: no test tools in the image.
RUN sed '/^# Development and tests/,$d' requirements.txt >requirements-runtime.txt \
    && /venv/bin/pip install -r requirements-runtime.txt
COPY . .
# Hashed, compressed static files (whitenoise serves them from the image).
RUN DEBUG=false SECRET_KEY=collectstatic-only STATIC_ROOT=/src/staticfiles \
    /venv/bin/python manage.py collectstatic --noinput -v 0

FROM ${PYTHON_IMAGE} AS runtime
# The shared libraries Python packages load at run time and do not bundle: libmagic
# for python-magic (files: MIME type from the bytes). Without it every request fails.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 slackclone \
    && useradd --system --uid 10001 --gid slackclone --home-dir /app --shell /usr/sbin/nologin slackclone \
    && mkdir -p /secrets /data/files && chown slackclone:slackclone /secrets /data/files
COPY --from=build /venv /venv
COPY --from=build /src /app
ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DEBUG=false \
    LOG_FORMAT=json \
    STATIC_ROOT=/app/staticfiles \
    FILES_ROOT=/data/files \
    PORT=8000
WORKDIR /app
USER slackclone:slackclone
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "slackclone.healthcheck"]
# Migrations are not run here (N containers would race): `manage.py migrate` and
# `manage.py ensure_mongo_indexes` run once per deploy (docker-compose.yml: `migrate`).
# uvicorn with slackclone's options (slackclone/serve.py: no access log, as the app logs
# every request itself, JSON with LOG_FORMAT=json; WebSocket and HTTP limits).
CMD ["python", "-m", "slackclone.serve", "--host", "0.0.0.0"]
