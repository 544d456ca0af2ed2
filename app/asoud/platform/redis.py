"""The Redis connection: a real server, or an in-process one for the embedded quick start."""

from __future__ import annotations

from redis.asyncio import Redis

from asoud.platform.settings import Settings


def create_redis(settings: Settings) -> Redis:
    if settings.uses_embedded_redis:
        # fakeredis implements the Redis protocol in memory, so the embedded mode runs the
        # very same cache, rate-limit and one-time-code code paths as production.
        from fakeredis import FakeAsyncRedis

        return FakeAsyncRedis()
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        max_connections=200,
    )


class KeySpace:
    """Every Redis key the platform writes goes through here: one prefix isolates a deployment."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)
