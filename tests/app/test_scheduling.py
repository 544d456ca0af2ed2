"""The scheduler: one leader among many, each periodic run enqueued once, retries released
when due instead of sleeping in a worker (issue 11). Real Redis, real task stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from taskiq import TaskiqMessage, TaskiqResult

from asoud.background import broker as background
from asoud.background.scheduler import Scheduler, due_tasks
from asoud.platform.redis import KeySpace
from asoud.platform.settings import Settings


@pytest.fixture
async def stream(settings: Settings) -> AsyncIterator[Any]:
    broker = background.create_broker(settings)
    await broker.startup()
    yield broker
    await broker.shutdown()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


async def _queued(redis: Redis, settings: Settings) -> list[str]:
    """Task names on the workers' stream, oldest first."""
    entries = await redis.xrange(KeySpace(settings.redis_key_prefix)("tasks"))
    return [json.loads(fields[b"data"])["task_name"] for _, fields in entries]


def _scheduler(stream: Any, redis: Redis, settings: Settings, name: str, **kw: Any) -> Scheduler:
    return Scheduler(stream, redis, KeySpace(settings.redis_key_prefix), holder=name, **kw)


async def test_two_schedulers_enqueue_each_periodic_run_once(
    settings: Settings, stream: Any, redis: Redis
) -> None:
    minute = datetime(2026, 12, 2, 3, 17, tzinfo=UTC)  # nightly cleanup's minute, and more
    first = _scheduler(stream, redis, settings, "scheduler-a")
    second = _scheduler(stream, redis, settings, "scheduler-b")
    enqueued = await asyncio.gather(first.tick(minute), second.tick(minute))
    assert sorted([*enqueued[0], *enqueued[1]]) == sorted(due_tasks(minute))
    assert [] in enqueued  # the one that does not lead enqueues nothing
    # ... and even two leaders (a lease lost mid-tick) enqueue a minute once
    rogue = _scheduler(stream, redis, settings, "scheduler-c", elect=False)
    assert await rogue.tick(minute) == []
    assert sorted(await _queued(redis, settings)) == sorted(due_tasks(minute))


async def test_leadership_passes_on_when_the_leader_stops_or_dies(
    settings: Settings, stream: Any, redis: Redis
) -> None:
    keys = KeySpace(settings.redis_key_prefix)
    a = _scheduler(stream, redis, settings, "a", lease_seconds=0.5)
    b = _scheduler(stream, redis, settings, "b", lease_seconds=0.5)
    stop = asyncio.Event()
    running = asyncio.create_task(a.run(stop, interval=0.05))
    for _ in range(100):
        if await redis.get(keys("scheduler", "leader")) == b"a":
            break
        await asyncio.sleep(0.01)
    assert not await b.lease.hold()  # type: ignore[union-attr]
    stop.set()  # a graceful stop hands the lease over at once
    await running
    assert await b.lease.hold()  # type: ignore[union-attr]
    # b dies without a word: its lease runs out and a takes over
    for _ in range(200):
        if await a.lease.hold():  # type: ignore[union-attr]
            break
        await asyncio.sleep(0.01)
    assert await redis.get(keys("scheduler", "leader")) == b"a"


async def test_a_failed_task_waits_in_the_retry_queue_not_in_a_worker(
    settings: Settings, stream: Any, redis: Redis
) -> None:
    queue = background.RetryQueue(redis, KeySpace(settings.redis_key_prefix)("task-retries"))
    middleware = background.ReliabilityMiddleware(retry_base_seconds=600, retries=queue)
    middleware.set_broker(stream)
    message = TaskiqMessage(
        task_id="t-1",
        task_name="payments.reconcile",
        labels={"attempt": "1"},
        args=[],
        kwargs={},
    )
    result: TaskiqResult[Any] = TaskiqResult(is_err=True, return_value=None, execution_time=0)
    started = time.monotonic()
    await middleware.on_error(message, result, RuntimeError("gateway down"))
    assert time.monotonic() - started < 5  # returned at once: the worker slot is free
    assert await queue.waiting() == 1 and await _queued(redis, settings) == []  # not yet
    scheduler = _scheduler(stream, redis, settings, "s")

    async def retried() -> list[dict[str, Any]]:
        entries = await redis.xrange(KeySpace(settings.redis_key_prefix)("tasks"))
        sent = [json.loads(fields[b"data"]) for _, fields in entries]
        return [m for m in sent if m["task_id"] == "t-1"]

    await scheduler.tick(datetime.fromtimestamp(time.time() + 60, UTC))
    assert await retried() == [] and await queue.waiting() == 1  # ten minutes are not up
    await scheduler.tick(datetime.fromtimestamp(time.time() + 601, UTC))
    assert await queue.waiting() == 0
    [sent] = await retried()
    assert (sent["task_name"], sent["task_id"], sent["labels"]["attempt"]) == (
        "payments.reconcile",
        "t-1",
        "2",
    )


async def test_the_scheduler_process_stops_on_sigterm_and_leaves_the_lease(
    settings: Settings, redis: Redis
) -> None:
    import os
    import signal
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ASOUD_")}
    for name in ("environment", "database_url", "redis_url", "redis_key_prefix", "secret_key"):
        env["ASOUD_" + name.upper()] = str(getattr(settings, name))
    env["ASOUD_JWT_KEYRING_FILE"] = str(settings.jwt_keyring_file)
    env["POD_NAME"] = "scheduler-0"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asoud", "scheduler", env=env, stderr=asyncio.subprocess.PIPE
    )
    keys = KeySpace(settings.redis_key_prefix)
    try:
        for _ in range(600):
            if await redis.get(keys("scheduler", "leader")) == b"scheduler-0":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the scheduler never took the lease")
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert await redis.get(keys("scheduler", "leader")) is None  # handed over on the way out
    errors = [line for line in stderr.decode().splitlines() if '"level": "error"' in line]
    assert errors == [] and "Traceback" not in stderr.decode()
