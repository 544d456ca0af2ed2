"""Fixed-window rate limits in Redis, several limits checked in one round trip.

Identities (phone numbers, IPs, user ids) are HMAC-hashed before they become keys, so a
Redis dump reveals nobody. Each caller decides whether a Redis failure fails open (general
API limits) or closed with 503 (login endpoints, where an unlimited attacker is worse than
a short outage).

Fail-closed limits (login) ask Redis on every hit: exact across processes. Fail-open limits
(the general API limits, checked on every request) are counted in the process and written to
Redis in one pipelined INCRBY per key every ``FLUSH_SECONDS``, the way Envoy pairs a local
token bucket with its global limiter: a process decides from Redis's count as of its last
flush plus its own hits since, so other processes' hits are seen at most ``FLUSH_SECONDS``
late, and a request never waits for Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from asoud.platform.errors import RateLimited, ServiceUnavailable
from asoud.platform.redis import KeySpace

log = logging.getLogger("asoud.ratelimit")

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
FLUSH_SECONDS = 0.2


@dataclass(frozen=True)
class Rate:
    limit: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """Parse ``"<count>/<second|minute|hour|day>"``, e.g. ``"100/hour"``."""
        count, _, unit = text.partition("/")
        unit = unit.strip().lower().rstrip("s")
        if unit not in _UNITS or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"invalid rate {text!r}; use e.g. '100/hour'")
        return cls(int(count), _UNITS[unit])

    @property
    def policy(self) -> str:
        return f"{self.limit};w={self.window_seconds}"


@dataclass(frozen=True)
class Limit:
    scope: str
    identity: str
    rate: Rate


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    policy: str

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": self.policy,
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


@dataclass
class _Window:
    """One key's window as this process sees it: Redis's count at the last flush, and the
    hits counted here since."""

    ttl: int
    ends_at: float
    key: str
    known: int = 0
    pending: int = 0


class RateLimiter:
    def __init__(self, redis: Redis, keys: KeySpace, secret: str, *, enabled: bool = True) -> None:
        self.redis = redis
        self.keys = keys
        self._secret = secret.encode() or b"asoud"
        self.enabled = enabled
        # (scope, identity, window number) -> that window as this process counts it; the
        # Redis key (an HMAC of the identity) is made once per window.
        self._windows: dict[tuple[str, str, int], _Window] = {}
        self._flusher: asyncio.Task[None] | None = None

    def _hash(self, identity: str) -> str:
        return hmac.new(self._secret, identity.encode(), hashlib.sha256).hexdigest()[:24]

    def count_locally(self, limits: list[Limit]) -> Decision | None:
        """Count one hit against every fail-open limit without waiting for Redis."""
        if not self.enabled or not limits:
            return None
        now = time.time()
        tightest: tuple[bool, int, int, Limit, _Window] | None = None
        for limit in limits:
            seconds = limit.rate.window_seconds
            number = int(now // seconds)
            slot = (limit.scope, limit.identity, number)
            window = self._windows.get(slot)
            if window is None:
                key = self.keys("rl", limit.scope, self._hash(limit.identity), str(number))
                window = self._windows[slot] = _Window(seconds + 1, (number + 1) * seconds, key)
            window.pending += 1
            count = window.known + window.pending
            allowed = count <= limit.rate.limit
            remaining = max(0, limit.rate.limit - count)
            # A refusal outranks any allowance; among equals, the fewest remaining hits.
            candidate = (allowed, remaining, -int(window.ends_at), limit, window)
            if tightest is None or candidate[:3] < tightest[:3]:
                tightest = candidate
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())
        assert tightest is not None
        allowed, remaining, _, limit, window = tightest
        return Decision(
            allowed=allowed,
            limit=limit.rate.limit,
            remaining=remaining,
            reset_seconds=max(1, math.ceil(window.ends_at - now)),
            policy=limit.rate.policy,
        )

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        """Write the hits counted here to Redis and learn every process's totals."""
        now = time.time()
        windows = self._windows
        for slot in [slot for slot, w in windows.items() if w.ends_at < now]:
            del windows[slot]
        batch = [(w.key, w, w.pending) for w in windows.values() if w.pending]
        if not batch:
            return
        for _, window, hits in batch:
            window.pending -= hits
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, window, hits in batch:
                    pipe.incrby(key, hits)
                    pipe.expire(key, window.ttl)
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            for _, window, hits in batch:  # kept for the next flush; limits stay local
                window.pending += hits
            log.warning("rate limiter unavailable, counting locally: %s", type(exc).__name__)
            return
        for index, (_, window, _hits) in enumerate(batch):
            window.known = int(results[index * 2])

    async def close(self) -> None:
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        # Bounded: shutting down never waits on a Redis that stopped answering.
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(2):
                await self.flush()

    async def check(self, limits: list[Limit], *, fail_closed: bool) -> Decision | None:
        """Count one hit against every limit; the most restrictive decides (``None``: no limit).
        Fail-open limits are counted locally and flushed in batches (see the module)."""
        if not self.enabled or not limits:
            return None
        if not fail_closed:
            return self.count_locally(limits)
        now = time.time()
        windows = []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for limit in limits:
                    window = int(now // limit.rate.window_seconds)
                    key = self.keys("rl", limit.scope, self._hash(limit.identity), str(window))
                    pipe.incr(key)
                    pipe.expire(key, limit.rate.window_seconds + 1)
                    windows.append(window)
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("rate limiter unavailable, refusing: %s", type(exc).__name__)
            raise ServiceUnavailable() from None

        decisions = []
        for index, limit in enumerate(limits):
            count = int(results[index * 2])
            window_end = (windows[index] + 1) * limit.rate.window_seconds
            decisions.append(
                Decision(
                    allowed=count <= limit.rate.limit,
                    limit=limit.rate.limit,
                    remaining=max(0, limit.rate.limit - count),
                    reset_seconds=max(1, math.ceil(window_end - now)),
                    policy=limit.rate.policy,
                )
            )
        # A refusal outranks any allowance; among equals, the fewest remaining hits.
        return min(decisions, key=lambda d: (d.allowed, d.remaining, -d.reset_seconds))

    async def enforce(self, limits: list[Limit], *, fail_closed: bool) -> Decision | None:
        decision = await self.check(limits, fail_closed=fail_closed)
        if decision is not None and not decision.allowed:
            raise RateLimited(headers=decision.headers(), retry_after=decision.reset_seconds)
        return decision
