"""Redis and PostgreSQL outages, injected for real on private servers (issue 11).

Redis down: catalogue reads and the general rate limits fail open to PostgreSQL, writes that
commit answer their success (cache invalidation and idempotency records are never what turns
a committed write into an error), what cannot work without Redis answers 503 with
Retry-After, and nothing answers 500 once it is back. Invalidations Redis missed are written
before the cache is trusted again. PostgreSQL down: 503 with Retry-After, and recovery
without a restart.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from asoud.orders.models import Order
from asoud.platform import database
from asoud.platform.settings import load_settings
from asoud.runtime import Platform
from tests.support.market import GENEROUS_LIMITS, Actor, published_market, published_product
from tests.support.services import PrivatePostgres, PrivateRedis


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    import asyncio

    server = PrivatePostgres()
    try:
        asyncio.run(
            database.migrate(
                load_settings(environ={}, database_url=server.url), report=lambda _: None
            )
        )
        yield server
    finally:
        server.remove()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
def settings_overrides(
    private_postgres: PrivatePostgres, private_redis: PrivateRedis
) -> dict[str, Any]:
    return {
        **GENEROUS_LIMITS,
        "database_url": private_postgres.url,
        "redis_url": private_redis.url,
    }


async def _shop(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, stock: int = 1
) -> tuple[dict[str, Any], dict[str, Any]]:
    market = await published_market(client, owner, staff, "outage-shop")
    product = await published_product(client, owner, staff, market["id"], stock=stock)
    return market, product


async def _in_stock(client: httpx.AsyncClient, product_id: str) -> bool:
    listed = await client.get("/api/v1/products", params={"in_stock": "true"})
    assert listed.status_code == 200, listed.text
    return product_id in {item["id"] for item in listed.json()["items"]}


async def test_redis_down_reads_fail_open_writes_commit_and_answer(
    client: httpx.AsyncClient,
    private_redis: PrivateRedis,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    market, product = await _shop(client, owner, staff, stock=3)
    assert await _in_stock(client, product["id"])  # cached now
    private_redis.stop()

    # reads: anonymous (cached paths) and authenticated, straight from PostgreSQL
    for path in (
        "/api/v1/products",
        f"/api/v1/products/{product['id']}",
        "/api/v1/categories",
        "/api/v1/markets",
        f"/api/v1/markets/{market['id']}/products",
    ):
        assert (await client.get(path)).status_code == 200, path
    assert (await client.get("/api/v1/me", headers=buyer.headers)).status_code == 200

    # a write commits and says so; a retry with the same key finds the same order
    added = await client.post(
        "/api/v1/cart/items",
        json={"product_id": product["id"], "quantity": 2},
        headers=buyer.headers,
    )
    assert added.status_code == 201, added.text
    key = {"Idempotency-Key": "checkout-during-outage"}
    first = await client.post(
        "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers | key
    )
    assert first.status_code == 201, first.text
    retry = await client.post(
        "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers | key
    )
    assert retry.status_code == 201 and retry.json()["id"] == first.json()["id"]
    assert await Order.all().count() == 1
    edited = await client.patch(
        f"/api/v1/products/{product['id']}", json={"price": "460000"}, headers=owner.headers
    )
    assert edited.status_code == 200, edited.text

    # what needs Redis (one-time codes, fail-closed login limits) says so, with Retry-After
    otp = await client.post("/api/v1/auth/otp", json={"phone": "09121234000"})
    assert otp.status_code == 503 and otp.headers["retry-after"]
    assert otp.json()["code"] == "service_unavailable"

    private_redis.start()  # empty: this Redis keeps nothing on disk
    for _ in range(3):  # pooled connections died with the old server: no 500 for that
        assert (await client.get("/api/v1/products")).status_code == 200
        assert (
            await client.post("/api/v1/auth/otp", json={"phone": "09121234000"})
        ).status_code in (
            202,
            429,
        )
    shown = (await client.get(f"/api/v1/products/{product['id']}")).json()
    assert shown["price"] == {"amount": "460000", "currency": "IRT"}


async def test_invalidations_missed_during_a_partition_are_written_before_the_cache_is_read(
    client: httpx.AsyncClient,
    platform: Platform,
    private_redis: PrivateRedis,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    market, product = await _shop(client, owner, staff, stock=1)
    assert await _in_stock(client, product["id"])  # the page says "in stock", cached
    assert private_redis.process is not None
    os.kill(private_redis.process.pid, signal.SIGSTOP)  # Redis stops answering, keeps data
    try:
        await client.post(
            "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
        )
        ordered = await client.post(
            "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers
        )
        assert ordered.status_code == 201, ordered.text  # the last unit is now held
        assert platform.cache.owes  # the page's generation could not be bumped
        assert not await _in_stock(client, product["id"])  # meanwhile: from PostgreSQL
    finally:
        os.kill(private_redis.process.pid, signal.SIGCONT)  # back, with the stale page
    assert not await _in_stock(client, product["id"])  # the owed bump went first
    assert not platform.cache.owes


async def test_postgres_down_answers_503_and_recovers_without_a_restart(
    client: httpx.AsyncClient,
    private_postgres: PrivatePostgres,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    market, _ = await _shop(client, owner, staff)
    private_postgres.stop()
    try:
        for path in ("/api/v1/markets", f"/api/v1/markets/{market['id']}", "/api/v1/orders"):
            down = await client.get(path, headers=buyer.headers)
            assert down.status_code == 503, (path, down.text)
            assert down.headers["retry-after"] == "5"
            assert down.json()["code"] == "service_unavailable"
            assert "127.0.0.1" not in down.text and "asyncpg" not in down.text
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "fail"
    finally:
        private_postgres.start()
    for _ in range(3):
        assert (await client.get("/api/v1/markets")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
