"""`asoud scheduler`: periodic tasks on time and once, and failed tasks retried when due.

Any number of schedulers may run (a rollout overlaps two, a mistake starts three); they elect
one through a lease in Redis, renewed every second, and only the leader enqueues. Each
periodic run is also claimed per task and minute, so even two leaders (one that lost its
lease in the middle of a tick) enqueue it once; and every periodic task is idempotent, so a
run repeated after a crash does no harm.

Retries wait in a Redis sorted set by due time, not in a sleeping worker: the leader moves
each one back to the queue when its time comes. Like the queue itself they live in Redis;
what must survive a Redis restart is kept in PostgreSQL instead (see docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import pycron
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import WatchError
from taskiq import AsyncBroker

from asoud.background.broker import REGISTRY, RetryQueue, enqueue
from asoud.platform.cache import UNREACHABLE
from asoud.platform.redis import KeySpace

log = logging.getLogger("asoud.scheduler")
SCHEDULED = Counter("asoud_scheduled_tasks", "Periodic task runs enqueued", ["task"])
LEADER = Gauge("asoud_scheduler_leader", "1 while this scheduler holds the lease")


def due_tasks(minute: datetime) -> list[str]:
    """Names of the scheduled tasks whose cron matches this minute (UTC)."""
    return [
        spec.name
        for spec in REGISTRY.values()
        if spec.schedule and pycron.is_now(spec.schedule, minute)
    ]


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class Lease:
    """Leadership as a Redis key holding the holder's name, with a time to live."""

    def __init__(self, redis: Redis, key: str, holder: str, ttl_seconds: float) -> None:
        self.redis = redis
        self.key = key
        self.holder = holder
        self.ttl_ms = int(ttl_seconds * 1000)

    async def hold(self) -> bool:
        """Take the lease if free, renew it if ours; False while another holds it."""
        if await self.redis.set(self.key, self.holder, nx=True, px=self.ttl_ms):
            return True
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self.key)
                current = await pipe.get(self.key)
                if _text(current) != self.holder:
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.pexpire(self.key, self.ttl_ms)
                await pipe.execute()
                return True
            except WatchError:  # changed under us: taken or released; ask again next tick
                return False

    async def release(self) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self.key)
                current = await pipe.get(self.key)
                if _text(current) == self.holder:
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.delete(self.key)
                    await pipe.execute()
            except WatchError:
                pass


class Scheduler:
    def __init__(
        self,
        broker: AsyncBroker,
        redis: Redis,
        keys: KeySpace,
        *,
        holder: str,
        lease_seconds: float = 15.0,
        elect: bool = True,
    ) -> None:
        self.broker = broker
        self.redis = redis
        self.keys = keys
        self.holder = holder
        self.lease = (
            Lease(redis, keys("scheduler", "leader"), holder, lease_seconds) if elect else None
        )
        self.retries = RetryQueue(redis, keys("task-retries"))
        self._last_minute: datetime | None = None

    async def tick(self, now: datetime) -> list[str]:
        """One pass: lead or stand by; enqueue this minute's periodic tasks once; release
        due retries. Returns the periodic tasks this pass enqueued."""
        if self.lease is not None:
            leading = await self.lease.hold()
            LEADER.set(1 if leading else 0)
            if not leading:
                self._last_minute = None  # whoever leads now does this minute
                return []
        enqueued = []
        minute = now.astimezone(UTC).replace(second=0, microsecond=0)
        if minute != self._last_minute:
            for name in due_tasks(minute):
                claim = self.keys("periodic", name, minute.strftime("%Y%m%dT%H%M"))
                if not await self.redis.set(claim, self.holder, nx=True, ex=3600):
                    continue  # enqueued for this minute already
                try:
                    await enqueue(self.broker, name)
                except Exception as exc:  # one broken task must not stop the others
                    log.error("scheduled task %s not enqueued: %s", name, type(exc).__name__)
                    await self.redis.delete(claim)
                    continue
                SCHEDULED.labels(name).inc()
                enqueued.append(name)
            self._last_minute = minute
        await self.retries.release_due(self.broker, now.timestamp())
        return enqueued

    async def run(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.tick(datetime.now(UTC))
                except UNREACHABLE as exc:  # Redis away: nothing can be enqueued anyway
                    LEADER.set(0)
                    log.warning("scheduler waiting for Redis: %s", type(exc).__name__)
                    self._last_minute = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            if self.lease is not None:
                with contextlib.suppress(*UNREACHABLE):
                    await self.lease.release()  # the next scheduler need not wait it out
                LEADER.set(0)
