# syntax=docker/dockerfile:1.7
# Two images from one build:
#   docker build --target app -t ghcr.io/asoud/asoud:1.0.0 .               (API, worker, scheduler, migrator)
#   docker build --target operator -t ghcr.io/asoud/asoud-operator:0.1.0 .  (the AsoudStore operator)
# Both run as UID 10001 with a read-only root filesystem (the charts mount /tmp).

ARG PYTHON=3.11

FROM python:${PYTHON}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/asoud
WORKDIR /src
# Dependencies first (a layer that survives code changes), then the project itself.
COPY pyproject.toml README.md ./
COPY app ./app
COPY operator ./operator
RUN /opt/asoud/bin/pip install --upgrade pip \
 && /opt/asoud/bin/pip install '.[operator]' \
 && find /opt/asoud -name '__pycache__' -prune -exec rm -rf {} +

FROM python:${PYTHON}-slim-bookworm AS runtime
ENV PATH=/opt/asoud/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 asoud \
 && useradd --system --uid 10001 --gid asoud --home-dir /nonexistent --shell /usr/sbin/nologin asoud
COPY --from=build /opt/asoud /opt/asoud
USER 10001:10001

FROM runtime AS app
EXPOSE 8000
# `asoud serve` (API), `asoud worker`, `asoud scheduler`, `asoud migrate`, `asoud db ...`
ENTRYPOINT ["asoud"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

FROM runtime AS operator
EXPOSE 9090 8080
ENTRYPOINT ["asoud-operator"]
