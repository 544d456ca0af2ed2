# syntax=docker/dockerfile:1.7
# Two images from one build:
#   docker build --target app -t ghcr.io/asoud/asoud:1.0.0 .               (API, worker, scheduler, migrator)
#   docker build --target operator -t ghcr.io/asoud/asoud-operator:0.1.0 .  (the AsoudStore operator)
# Both run as UID 10001 with a read-only root filesystem (the charts mount /tmp), with tini as
# PID 1 so SIGTERM reaches the process and zombies are reaped.
#
# The base is pinned by digest (a tag moves; a digest does not). To move to a newer one:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   (then update the digest)
# Dependencies come from requirements/app.lock (hashes checked); `make lock` regenerates it.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/asoud
WORKDIR /src
# Locked dependencies first (a layer that survives code changes), then the project itself.
COPY requirements/app.lock ./requirements/app.lock
RUN /opt/asoud/bin/pip install --require-hashes --no-deps -r requirements/app.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY operator ./operator
RUN /opt/asoud/bin/pip install --no-deps . \
 && find /opt/asoud -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 asoud \
 && useradd --system --uid 10001 --gid asoud --home-dir /nonexistent --shell /usr/sbin/nologin asoud
ENV PATH=/opt/asoud/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/asoud /opt/asoud
USER 10001:10001

FROM runtime AS app
EXPOSE 8000 9100
# `asoud serve` (API), `asoud worker`, `asoud scheduler`, `asoud migrate`, `asoud db ...`
ENTRYPOINT ["tini", "--", "asoud"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

FROM runtime AS operator
EXPOSE 9090 8080
ENTRYPOINT ["tini", "--", "asoud-operator"]
