"""The JSON cache over real Redis: TTLs, compression, delete-many and hit/miss counting."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY

from asoud.platform.cache import COMPRESS_ABOVE_BYTES, decode, encode
from asoud.runtime import Platform


def _count(cache: str, result: str) -> float:
    return (
        REGISTRY.get_sample_value("asoud_cache_requests_total", {"cache": cache, "result": result})
        or 0.0
    )


async def test_set_get_and_counters(platform: Platform) -> None:
    cache = platform.cache
    hits, misses = _count("demo", "hit"), _count("demo", "miss")
    assert await cache.get("demo", "k1") is None
    await cache.set("demo", "k1", {"amount": "125000", "currency": "IRT"}, ttl_seconds=60)
    assert await cache.get("demo", "k1") == {"amount": "125000", "currency": "IRT"}
    assert (_count("demo", "hit") - hits, _count("demo", "miss") - misses) == (1, 1)
    ttl = await platform.redis.ttl(platform.keys("cache", "demo", "k1"))
    assert 0 < ttl <= 60


async def test_large_values_are_compressed(platform: Platform) -> None:
    value = {"items": [{"name": "محصول", "n": i} for i in range(200)]}
    await platform.cache.set("demo", "big", value, ttl_seconds=60)
    raw = await platform.redis.get(platform.keys("cache", "demo", "big"))
    plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert raw[:1] == b"z" and len(raw) < len(plain) / 5
    assert await platform.cache.get("demo", "big") == value
    small = encode({"a": 1})
    assert small[:1] == b"j" and len(small) < COMPRESS_ABOVE_BYTES and decode(small) == {"a": 1}


async def test_get_many_and_delete_many(platform: Platform) -> None:
    cache = platform.cache
    for key in ("a", "b", "c"):
        await cache.set("demo", key, key.upper(), ttl_seconds=60)
    assert await cache.get_many("demo", ["a", "x", "c"]) == ["A", None, "C"]
    await cache.delete_many("demo", ["a", "b", "nope"])
    assert await cache.get_many("demo", ["a", "b", "c"]) == [None, None, "C"]


async def test_get_or_load_loads_once(platform: Platform) -> None:
    calls = 0

    async def load() -> list[int]:
        nonlocal calls
        calls += 1
        return [1, 2, 3]

    assert await platform.cache.get_or_load("demo", "lazy", 60, load) == [1, 2, 3]
    assert await platform.cache.get_or_load("demo", "lazy", 60, load) == [1, 2, 3]
    assert calls == 1


async def test_keys_carry_the_deployment_prefix(platform: Platform) -> None:
    await platform.cache.set("demo", "scoped", 1, ttl_seconds=60)
    assert (
        await platform.redis.exists(platform.settings.redis_key_prefix + "cache:demo:scoped") == 1
    )


async def test_rendered_documents_round_trip_compressed(platform: Platform) -> None:
    page = json.dumps({"items": [{"name": "کتاب", "n": i} for i in range(100)]}).encode()
    await platform.cache.set_bytes("demo", "page", page, ttl_seconds=60)
    stored = await platform.redis.get(platform.keys("cache", "demo", "page"))
    assert stored[:1] == b"z" and len(stored) < len(page)
    assert await platform.cache.get_bytes("demo", "page") == page
    await platform.cache.set_bytes("demo", "tiny", b"{}", ttl_seconds=60)
    assert await platform.cache.get_bytes("demo", "tiny") == b"{}"
    assert await platform.cache.get_bytes("demo", "absent") is None
