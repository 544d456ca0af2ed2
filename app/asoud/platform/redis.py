"""The Redis connection: a real server, or an in-process one for the embedded quick start."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, TimeoutError

from asoud.platform.settings import Settings


def create_redis(settings: Settings) -> Redis:
    if settings.uses_embedded_redis:
        # fakeredis implements the Redis protocol in memory, so the embedded mode runs the
        # very same cache, rate-limit and one-time-code code paths as production.
        from fakeredis import FakeAsyncRedis

        return FakeAsyncRedis()
    # A blocking pool: under a burst a request waits (up to 2 s) for a free connection
    # instead of failing with MaxConnectionsError, which the load test showed as 5xx.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=200,
        timeout=2,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        # After Redis restarts, pooled connections are dead: a command that meets one
        # reconnects and runs once more, instead of failing the request that drew it.
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    return Redis.from_pool(pool)


class KeySpace:
    """Every Redis key the platform writes goes through here: one prefix isolates a deployment."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)
