"""The quick start's stand-in for `asoud scheduler`: periodic tasks run inside the API process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import pycron
from taskiq import AsyncBroker

from asoud.background.broker import REGISTRY, enqueue

log = logging.getLogger("asoud.background")


def due_tasks(minute: datetime) -> list[str]:
    """Names of the scheduled tasks whose cron matches this minute (UTC)."""
    return [
        spec.name
        for spec in REGISTRY.values()
        if spec.schedule and pycron.is_now(spec.schedule, minute)
    ]


async def run_schedule(broker: AsyncBroker) -> None:
    while True:
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        for name in due_tasks(minute):
            try:
                await enqueue(broker, name)
            except Exception as exc:  # one broken task must not stop the others
                log.error("scheduled task %s failed: %s", name, type(exc).__name__)
        next_minute = minute + timedelta(minutes=1)
        await asyncio.sleep(max(0.0, (next_minute - datetime.now(UTC)).total_seconds()))


def start(broker: AsyncBroker) -> asyncio.Task[None]:
    return asyncio.create_task(run_schedule(broker), name="asoud-embedded-scheduler")


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
