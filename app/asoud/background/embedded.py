"""The quick start's stand-in for `asoud scheduler`: periodic tasks run inside the API process.

The same :class:`~asoud.background.scheduler.Scheduler`, without an election (one process)."""

from __future__ import annotations

import asyncio
import contextlib

from redis.asyncio import Redis
from taskiq import AsyncBroker

from asoud.background.scheduler import Scheduler
from asoud.platform.redis import KeySpace

Running = tuple[asyncio.Task[None], asyncio.Event]


def start(
    broker: AsyncBroker, redis: Redis, keys: KeySpace
) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    scheduler = Scheduler(broker, redis, keys, holder="embedded", elect=False)
    return asyncio.create_task(scheduler.run(stop), name="asoud-embedded-scheduler"), stop


async def stop(running: Running) -> None:
    task, event = running
    event.set()
    with contextlib.suppress(asyncio.CancelledError):
        await task
