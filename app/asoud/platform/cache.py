"""A JSON cache over Redis: TTLs, compression of large values, hit/miss metrics.

The cache fails open: while Redis is unreachable a lookup is a miss (answered from
PostgreSQL) and a store is skipped. An invalidation that could not be written is *owed*: it
is kept in the process and written as soon as Redis answers again (before this process
trusts the cache again); entries expire within their TTL in any case.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from asoud.platform.redis import KeySpace

CACHE_REQUESTS = Counter(
    "asoud_cache_requests", "Cache lookups by cache name and result", ["cache", "result"]
)

log = logging.getLogger("asoud.cache")
# What a Redis that cannot be reached raises (redis-py wraps socket errors; OSError as well
# for what escapes it). A refused command (ResponseError) is a bug and stays one.
UNREACHABLE = (RedisError, OSError)

MAX_OWED = 10_000
SKIP_AFTER_FAILURE_SECONDS = 1.0

_RAW, _ZLIB = b"j", b"z"
COMPRESS_ABOVE_BYTES = 1024


def encode(value: Any) -> bytes:
    payload = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if len(payload) > COMPRESS_ABOVE_BYTES:
        return _ZLIB + zlib.compress(payload, level=6)
    return _RAW + payload


def decode(blob: bytes | str) -> Any:
    if isinstance(blob, str):  # only if a client was built with decode_responses=True
        blob = blob.encode("latin-1")
    marker, payload = blob[:1], blob[1:]
    if marker == _ZLIB:
        payload = zlib.decompress(payload)
    return json.loads(payload)


class Cache:
    def __init__(self, redis: Redis, keys: KeySpace, *, enabled: bool = True) -> None:
        self.redis = redis
        self.keys = keys
        self.enabled = enabled
        # Invalidations Redis did not take, replayed in order once it answers again.
        self._owed: list[Callable[[], Awaitable[None]]] = []
        # After a failure the cache is skipped for a moment: a Redis that times out (a network
        # partition) must not add its timeout to every request.
        self._skip_until = 0.0

    def _key(self, cache: str, key: str) -> str:
        return self.keys("cache", cache, key)

    def unavailable(self, cache: str, exc: BaseException) -> None:
        """Redis failed a cache operation: count it, and skip the cache for a moment."""
        CACHE_REQUESTS.labels(cache, "unavailable").inc()
        self._skip_until = time.monotonic() + SKIP_AFTER_FAILURE_SECONDS
        log.warning("cache unavailable, reading through: %s", type(exc).__name__)

    def usable(self, cache: str) -> bool:
        """Whether to ask Redis at all (enabled, and not just failed)."""
        if not self.enabled:
            return False
        if time.monotonic() < self._skip_until:
            CACHE_REQUESTS.labels(cache, "unavailable").inc()
            return False
        return True

    @property
    def owes(self) -> bool:
        return bool(self._owed)

    def owe(self, write: Callable[[], Awaitable[None]]) -> None:
        """Keep an invalidation that failed; :meth:`settle` writes it when Redis is back.
        Bounded: past MAX_OWED the oldest go, and their entries' TTL bounds the staleness."""
        self._owed.append(write)
        if len(self._owed) > MAX_OWED:
            del self._owed[: len(self._owed) - MAX_OWED]
            log.warning("more than %d cache invalidations owed; the oldest are dropped", MAX_OWED)

    async def settle(self) -> bool:
        """Write what is owed; True when nothing is owed any more (the cache is trustworthy)."""
        while self._owed:
            try:
                await self._owed[0]()
            except UNREACHABLE:
                return False
            self._owed.pop(0)
        return True

    async def get(self, cache: str, key: str) -> Any | None:
        if not self.usable(cache):
            return None
        try:
            blob = await self.redis.get(self._key(cache, key))
        except UNREACHABLE as exc:
            self.unavailable(cache, exc)
            return None
        CACHE_REQUESTS.labels(cache, "miss" if blob is None else "hit").inc()
        return None if blob is None else decode(blob)

    async def get_bytes(self, cache: str, key: str) -> bytes | None:
        """A rendered document (e.g. a JSON page) stored by :meth:`set_bytes`."""
        if not self.usable(cache):
            return None
        try:
            blob = await self.redis.get(self._key(cache, key))
        except UNREACHABLE as exc:
            self.unavailable(cache, exc)
            return None
        CACHE_REQUESTS.labels(cache, "miss" if blob is None else "hit").inc()
        if blob is None:
            return None
        raw = blob.encode("latin-1") if isinstance(blob, str) else blob
        return zlib.decompress(raw[1:]) if raw[:1] == _ZLIB else raw[1:]

    async def set_bytes(self, cache: str, key: str, payload: bytes, ttl_seconds: int) -> None:
        if not self.usable(cache):
            return
        blob = (
            _ZLIB + zlib.compress(payload, 6)
            if len(payload) > COMPRESS_ABOVE_BYTES
            else _RAW + payload
        )
        try:
            await self.redis.set(self._key(cache, key), blob, ex=ttl_seconds)
        except UNREACHABLE as exc:
            self.unavailable(cache, exc)

    async def get_many(self, cache: str, keys: Sequence[str]) -> list[Any | None]:
        if not keys or not self.usable(cache):
            return [None] * len(keys)
        try:
            blobs = await self.redis.mget([self._key(cache, k) for k in keys])
        except UNREACHABLE as exc:
            self.unavailable(cache, exc)
            return [None] * len(keys)
        hits = sum(blob is not None for blob in blobs)
        CACHE_REQUESTS.labels(cache, "hit").inc(hits)
        CACHE_REQUESTS.labels(cache, "miss").inc(len(blobs) - hits)
        return [None if blob is None else decode(blob) for blob in blobs]

    async def set(self, cache: str, key: str, value: Any, ttl_seconds: int) -> None:
        if not self.usable(cache):
            return
        try:
            await self.redis.set(self._key(cache, key), encode(value), ex=ttl_seconds)
        except UNREACHABLE as exc:
            self.unavailable(cache, exc)

    async def delete_many(self, cache: str, keys: Sequence[str]) -> None:
        """Drop entries; if Redis cannot be reached the deletion is owed (see :meth:`owe`)."""
        if not keys:
            return
        names = [self._key(cache, k) for k in keys]

        async def delete() -> None:
            await self.redis.delete(*names)

        try:
            await delete()
        except UNREACHABLE as exc:
            self.unavailable(cache, exc)
            self.owe(delete)

    async def get_or_load(
        self, cache: str, key: str, ttl_seconds: int, load: Callable[[], Awaitable[Any]]
    ) -> Any:
        value = await self.get(cache, key)
        if value is None:
            value = await load()
            await self.set(cache, key, value, ttl_seconds)
        return value
