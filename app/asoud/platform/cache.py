"""A JSON cache over Redis: TTLs, compression of large values, hit/miss metrics."""

from __future__ import annotations

import json
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis

from asoud.platform.redis import KeySpace

CACHE_REQUESTS = Counter(
    "asoud_cache_requests", "Cache lookups by cache name and result", ["cache", "result"]
)

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

    def _key(self, cache: str, key: str) -> str:
        return self.keys("cache", cache, key)

    async def get(self, cache: str, key: str) -> Any | None:
        if not self.enabled:
            return None
        blob = await self.redis.get(self._key(cache, key))
        CACHE_REQUESTS.labels(cache, "miss" if blob is None else "hit").inc()
        return None if blob is None else decode(blob)

    async def get_bytes(self, cache: str, key: str) -> bytes | None:
        """A rendered document (e.g. a JSON page) stored by :meth:`set_bytes`."""
        if not self.enabled:
            return None
        blob = await self.redis.get(self._key(cache, key))
        CACHE_REQUESTS.labels(cache, "miss" if blob is None else "hit").inc()
        if blob is None:
            return None
        raw = blob.encode("latin-1") if isinstance(blob, str) else blob
        return zlib.decompress(raw[1:]) if raw[:1] == _ZLIB else raw[1:]

    async def set_bytes(self, cache: str, key: str, payload: bytes, ttl_seconds: int) -> None:
        if self.enabled:
            blob = (
                _ZLIB + zlib.compress(payload, 6)
                if len(payload) > COMPRESS_ABOVE_BYTES
                else _RAW + payload
            )
            await self.redis.set(self._key(cache, key), blob, ex=ttl_seconds)

    async def get_many(self, cache: str, keys: Sequence[str]) -> list[Any | None]:
        if not self.enabled or not keys:
            return [None] * len(keys)
        blobs = await self.redis.mget([self._key(cache, k) for k in keys])
        hits = sum(blob is not None for blob in blobs)
        CACHE_REQUESTS.labels(cache, "hit").inc(hits)
        CACHE_REQUESTS.labels(cache, "miss").inc(len(blobs) - hits)
        return [None if blob is None else decode(blob) for blob in blobs]

    async def set(self, cache: str, key: str, value: Any, ttl_seconds: int) -> None:
        if self.enabled:
            await self.redis.set(self._key(cache, key), encode(value), ex=ttl_seconds)

    async def delete_many(self, cache: str, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        return int(await self.redis.delete(*(self._key(cache, k) for k in keys)))

    async def get_or_load(
        self, cache: str, key: str, ttl_seconds: int, load: Callable[[], Awaitable[Any]]
    ) -> Any:
        value = await self.get(cache, key)
        if value is None:
            value = await load()
            await self.set(cache, key, value, ttl_seconds)
        return value
