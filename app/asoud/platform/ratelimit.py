"""Fixed-window rate limits in Redis, several limits checked in one round trip.

Identities (phone numbers, IPs, user ids) are HMAC-hashed before they become keys, so a
Redis dump reveals nobody. Each caller decides whether a Redis failure fails open (general
API limits) or closed with 503 (login endpoints, where an unlimited attacker is worse than
a short outage).
"""

from __future__ import annotations

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


class RateLimiter:
    def __init__(self, redis: Redis, keys: KeySpace, secret: str, *, enabled: bool = True) -> None:
        self.redis = redis
        self.keys = keys
        self._secret = secret.encode() or b"asoud"
        self.enabled = enabled

    def _hash(self, identity: str) -> str:
        return hmac.new(self._secret, identity.encode(), hashlib.sha256).hexdigest()[:24]

    async def check(self, limits: list[Limit], *, fail_closed: bool) -> Decision | None:
        """Count one hit against every limit; the most restrictive decides (``None``: no limit)."""
        if not self.enabled or not limits:
            return None
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
            if fail_closed:
                log.warning("rate limiter unavailable, refusing: %s", type(exc).__name__)
                raise ServiceUnavailable() from None
            log.warning("rate limiter unavailable, allowing: %s", type(exc).__name__)
            return None

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
