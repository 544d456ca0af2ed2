"""The task broker: taskiq on a Redis stream (acknowledged, redelivered), or in-process.

Every task is declared with :func:`task` in its domain's ``tasks.py`` and registered on the
broker built for the process. Retries wait for real (exponential backoff), a task that
fails every retry becomes a :class:`DeadLetter`, and counters and histograms go to
Prometheus.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker, TaskiqMessage, TaskiqMiddleware
from taskiq.kicker import AsyncKicker
from taskiq.result import TaskiqResult
from taskiq_redis import RedisStreamBroker

from asoud.platform.redis import KeySpace
from asoud.platform.settings import Settings

log = logging.getLogger("asoud.background")

TASKS_TOTAL = Counter("asoud_tasks", "Task runs by task and result", ["task", "result"])
TASK_DURATION = Histogram(
    "asoud_task_duration_seconds",
    "Task run time",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
TASK_WAIT = Histogram(
    "asoud_task_wait_seconds",
    "Time from enqueue to start",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 60),
)
TASK_BACKLOG = Gauge(
    "asoud_task_queue_backlog",
    "Tasks waiting: stream entries not yet read plus read but not acknowledged",
    ["queue"],
)
DEAD_LETTERS = Counter("asoud_task_dead_letters", "Tasks that failed every retry", ["task"])
RETRIES_RELEASED = Counter("asoud_task_retries_released", "Retries moved back to the queue")

TaskFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    function: TaskFunction
    timeout_seconds: float
    max_attempts: int
    schedule: str | None  # cron, for the scheduler


REGISTRY: dict[str, TaskSpec] = {}


def task(
    name: str, *, timeout_seconds: float = 60, max_attempts: int = 5, schedule: str | None = None
) -> Callable[[TaskFunction], TaskFunction]:
    """Declare a background task. Handlers must be idempotent: delivery is at least once."""

    def register(function: TaskFunction) -> TaskFunction:
        REGISTRY[name] = TaskSpec(name, function, timeout_seconds, max_attempts, schedule)
        return function

    return register


WORKER_GROUP = "asoud-workers"


async def read_backlog(redis: Redis, stream: str) -> int:
    """Lag (never delivered) plus pending (delivered, not acknowledged) of the workers' group;
    what the operator's autoscaler reads too. Connection errors propagate to the caller."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no stream yet: nothing was ever enqueued
        groups = []
    return sum(
        int(g.get("lag") or 0) + int(g.get("pending") or 0)
        for g in groups
        if g.get("name") in (WORKER_GROUP, WORKER_GROUP.encode())
    )


async def measure_backlog(redis: Redis, stream: str) -> int:
    """The backlog, also exported as ``asoud_task_backlog`` (read at each scrape)."""
    try:
        backlog = await read_backlog(redis, stream)
    except Exception:  # Redis unreachable: /metrics still answers, the gauge keeps its value
        return -1
    TASK_BACKLOG.labels("tasks").set(backlog)
    return backlog


def retry_delay(attempt: int, base: float) -> float:
    """Exponential backoff: base, 2·base, 4·base … capped at 10 minutes."""
    return float(min(base * 2 ** max(0, attempt - 1), 600.0))


class ReclaimingStreamBroker(RedisStreamBroker):
    """taskiq-redis only reclaims a dead worker's messages after a *new* message arrives
    (its XAUTOCLAIM sits behind ``if not fetched: continue``). An idle queue would keep them
    forever, so this broker also reclaims when a read comes back empty."""

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                fetched: Any = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    noack=False,
                    count=self.count,
                )
                for stream, messages in fetched or []:
                    for message_id, message in messages:
                        yield AckableMessage(
                            data=message[b"data"],
                            ack=self._ack_generator(id=message_id, queue_name=stream),
                        )
                claimed: Any = await redis.xautoclaim(
                    name=self.queue_name,
                    groupname=self.consumer_group_name,
                    consumername=self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    count=self.unacknowledged_batch_size,
                )
                for message_id, message in claimed[1]:
                    if message is None:  # deleted from the stream meanwhile
                        continue
                    log.warning("reclaimed an unacknowledged task from a lost worker")
                    yield AckableMessage(
                        data=message[b"data"],
                        ack=self._ack_generator(id=message_id, queue_name=self.queue_name),
                    )


def _serialise(message: TaskiqMessage) -> str:
    return json.dumps(
        {
            "task_name": message.task_name,
            "task_id": message.task_id,
            "labels": message.labels,
            "args": message.args,
            "kwargs": message.kwargs,
        },
        sort_keys=True,
        default=str,
    )


async def kick(broker: AsyncBroker, stored: dict[str, Any]) -> None:
    """Send a task message again, with its id and labels (attempt number, enqueue time)."""
    kicker: AsyncKicker[Any, Any] = AsyncKicker(
        task_name=stored["task_name"], broker=broker, labels=dict(stored["labels"])
    ).with_task_id(stored["task_id"])
    kicker.with_labels(enqueued_at=str(time.time()))
    await kicker.kiq(*stored["args"], **stored["kwargs"])


class RetryQueue:
    """Failed runs waiting for their next attempt: a sorted set scored by due time."""

    def __init__(self, redis: Redis, key: str) -> None:
        self.redis = redis
        self.key = key

    async def put(self, message: TaskiqMessage, due: float) -> None:
        await self.redis.zadd(self.key, {_serialise(message): due})

    async def release_due(self, broker: AsyncBroker, now: float, limit: int = 500) -> int:
        due = await self.redis.zrangebyscore(self.key, "-inf", now, start=0, num=limit)
        released = 0
        for member in due:
            assert isinstance(member, bytes | str)  # members, no scores asked for
            if await self.redis.zrem(self.key, member) != 1:
                continue  # another scheduler took it
            await kick(broker, json.loads(member))
            released += 1
        RETRIES_RELEASED.inc(released)
        return released

    async def waiting(self) -> int:
        return int(await self.redis.zcard(self.key))


class ReliabilityMiddleware(TaskiqMiddleware):
    """Time metrics, retries with backoff, and the dead-letter store.

    A failed run's next attempt waits in the retry queue (released by the scheduler when
    due), so no worker slot sleeps through a backoff. The quick start, with no scheduler
    process, waits in a background task of its own process instead."""

    def __init__(self, retry_base_seconds: float, retries: RetryQueue | None) -> None:
        super().__init__()
        self.retry_base_seconds = retry_base_seconds
        self.retries = retries
        self._started: dict[str, float] = {}
        self._waiting: set[asyncio.Task[None]] = set()

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        message.labels.setdefault("enqueued_at", str(time.time()))
        return message

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        enqueued = float(message.labels.get("enqueued_at", time.time()))
        TASK_WAIT.observe(max(0.0, time.time() - enqueued))
        self._started[message.task_id] = time.perf_counter()
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        started = self._started.pop(message.task_id, None)
        if started is not None:
            TASK_DURATION.labels(message.task_name).observe(time.perf_counter() - started)
        if not result.is_err:
            TASKS_TOTAL.labels(message.task_name, "success").inc()

    async def on_error(
        self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException
    ) -> None:
        spec = REGISTRY.get(message.task_name)
        attempt = int(message.labels.get("attempt", 1))
        max_attempts = spec.max_attempts if spec else 1
        log.warning(
            "task %s failed (attempt %d of %d): %s",
            message.task_name,
            attempt,
            max_attempts,
            type(exception).__name__,
        )
        if attempt < max_attempts:
            TASKS_TOTAL.labels(message.task_name, "retry").inc()
            delay = retry_delay(attempt, self.retry_base_seconds)
            again = message.model_copy(
                update={"labels": {**message.labels, "attempt": str(attempt + 1)}}
            )
            if self.retries is not None:
                # Stored before this message is acknowledged: a worker dying here leaves the
                # message to be redelivered, never lost.
                await self.retries.put(again, time.time() + delay)
            else:
                waiting = asyncio.create_task(self._later(delay, again))
                self._waiting.add(waiting)
                waiting.add_done_callback(self._waiting.discard)
            return
        TASKS_TOTAL.labels(message.task_name, "dead").inc()
        DEAD_LETTERS.labels(message.task_name).inc()
        from asoud.background.models import DeadLetter

        await DeadLetter.create(
            task_id=message.task_id,
            task_name=message.task_name,
            args=list(message.args),
            kwargs=dict(message.kwargs),
            attempts=attempt,
            error_type=type(exception).__name__,
        )

    async def _later(self, delay: float, message: TaskiqMessage) -> None:
        await asyncio.sleep(delay)
        await kick(self.broker, json.loads(_serialise(message)))


# Every module that declares tasks; imported before a broker is built so all are registered.
TASK_MODULES = (
    "asoud.payments.tasks",
    "asoud.orders.tasks",
    "asoud.catalog.tasks",
    "asoud.notifications.tasks",
    "asoud.currencies.tasks",
)


def create_broker(settings: Settings) -> AsyncBroker:
    import importlib

    for module in TASK_MODULES:
        importlib.import_module(module)
    keys = KeySpace(settings.redis_key_prefix)
    broker: AsyncBroker
    if settings.uses_embedded_redis:
        broker = InMemoryBroker()  # the quick start: tasks run inside the API process
    else:
        broker = ReclaimingStreamBroker(
            url=settings.redis_url,
            queue_name=keys("tasks"),
            consumer_group_name=WORKER_GROUP,
            idle_timeout=settings.task_redelivery_after_ms,
            xread_block=min(2000, settings.task_redelivery_after_ms),
            maxlen=1_000_000,
        )
    from asoud.observability.sentry import SentryTaskMiddleware

    retries = (
        None
        if settings.uses_embedded_redis
        else RetryQueue(Redis.from_url(settings.redis_url), keys("task-retries"))
    )
    broker = broker.with_middlewares(
        ReliabilityMiddleware(settings.task_retry_base_seconds, retries), SentryTaskMiddleware()
    )
    for spec in REGISTRY.values():  # schedules are the scheduler's (asoud.background.scheduler)
        broker.register_task(spec.function, task_name=spec.name, timeout=spec.timeout_seconds)
    return broker


async def enqueue(broker: AsyncBroker, name: str, **kwargs: Any) -> str:
    found = broker.find_task(name)
    if found is None:
        raise KeyError(f"unknown task {name!r}")
    sent = await found.kiq(**kwargs)
    return str(sent.task_id)
