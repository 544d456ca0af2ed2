"""Entry point of `asoud worker` (taskiq loads `broker`).

Importing this module reads the configuration from the environment, imports every domain's
``tasks`` module and builds the broker.
"""

from __future__ import annotations

from prometheus_client import start_http_server
from taskiq import TaskiqEvents, TaskiqState

from asoud.background import context
from asoud.background.broker import create_broker
from asoud.observability.sentry import init_sentry
from asoud.platform.logging import configure_logging
from asoud.platform.settings import load_settings
from asoud.runtime import Platform

settings = load_settings()
broker = create_broker(settings)


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def _start(state: TaskiqState) -> None:
    configure_logging()
    init_sentry(settings)
    if settings.metrics_port:
        # Task results, durations, wait and dead letters live in this process's registry.
        start_http_server(settings.metrics_port, addr="0.0.0.0")  # noqa: S104
    platform = Platform.create(settings)
    await platform.start()
    context.set_platform(platform)


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def _stop(state: TaskiqState) -> None:
    platform = context.current_platform()
    context.set_platform(None)
    await platform.close()
