"""The catalogue's fast paths answer exactly what the general ones do, and stay fresh.

Anonymous reads come from hand-written SQL and from process memory; logged-in reads take the
ORM path. Both must render the same documents, memory must follow writes made by another
process within the stated bound, and HTTP caching must be offered only for public answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from asoud.app import create_app
from asoud.catalog import cache as catalog_cache
from asoud.platform.local_cache import MAX_STALENESS_SECONDS
from asoud.platform.settings import Settings
from asoud.runtime import Platform
from tests.support.market import (
    GENEROUS_LIMITS,
    Actor,
    leaf_id,
    published_market,
    published_product,
    queries_of,
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**GENEROUS_LIMITS}


async def _catalogue(client: httpx.AsyncClient, owner: Actor, staff: Actor) -> dict[str, Any]:
    market = await published_market(client, owner, staff, "fast-paths")
    category = await leaf_id()
    for index, (price, stock) in enumerate([(120, 3), (80, 0), (80, 5), (200, 1), (55, 2)]):
        await published_product(
            client,
            owner,
            staff,
            market["id"],
            name=f"Product {index}",
            description=f"About product {index}",
            price=str(price * 1000),
            compare_at_price=str(price * 1000 + 5000) if index % 2 else None,
            stock=stock,
            category_id=category if index < 3 else None,
            keywords=["fast", f"k{index}"],
            images=[f"https://img.example/{index}.jpg"],
            translations={"fa": {"name": f"کالای {index}", "description": "درباره"}},
        )
    return {"market": market, "category": category}


@pytest.mark.parametrize("cache_enabled", [False, True])
async def test_anonymous_sql_renders_what_the_orm_renders(
    client: httpx.AsyncClient,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
    app: Starlette,
    cache_enabled: bool,
) -> None:
    app.state.platform.cache.enabled = cache_enabled
    catalogue = await _catalogue(client, owner, staff)
    url = f"/api/v1/markets/{catalogue['market']['id']}/products"
    variants: list[dict[str, Any]] = [
        {"sort": sort, "limit": 2} for sort in ("newest", "price_asc", "price_desc", "popular")
    ]
    variants += [
        {"category_id": catalogue["category"]},
        {"min_price": "60000", "max_price": "150000"},
        {"in_stock": "true", "sort": "price_asc"},
    ]
    for language in ("en", "fa"):
        for params in variants:
            cursor: str | None = None
            pages = 0
            while True:
                query = {**params, **({"cursor": cursor} if cursor else {})}
                lang = {"Accept-Language": language}
                anonymous = await client.get(url, params=query, headers=lang)
                logged_in = await client.get(url, params=query, headers={**lang, **buyer.headers})
                assert anonymous.status_code == logged_in.status_code == 200, anonymous.text
                assert anonymous.json() == logged_in.json(), (language, query)
                for item in anonymous.json()["items"]:
                    detail = f"/api/v1/products/{item['id']}"
                    mine = await client.get(detail, headers=lang)
                    theirs = await client.get(detail, headers={**lang, **buyer.headers})
                    assert mine.json() == theirs.json() == item
                cursor = anonymous.json()["next_cursor"]
                pages += 1
                if cursor is None:
                    break
            assert pages >= 1
    # what anonymous callers may not see answers 404 on the SQL path as on the ORM path
    missing = "/api/v1/markets/00000000-0000-4000-8000-000000000000/products"
    assert (await client.get(missing)).status_code == 404
    await client.post(
        f"/api/v1/markets/{catalogue['market']['id']}/unpublish", headers=owner.headers
    )
    assert (await client.get(url)).status_code == 404


async def test_public_reads_offer_http_caching_and_private_ones_do_not(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "etags")
    product = await published_product(client, owner, staff, market["id"])
    for url in (
        f"/api/v1/products/{product['id']}",
        f"/api/v1/markets/{market['id']}/products",
        "/api/v1/products?limit=5",
    ):
        first = await client.get(url)
        etag = first.headers["ETag"]
        assert etag.startswith('"') and first.headers["Cache-Control"].startswith("public")
        assert first.headers["Vary"] == "Accept-Language"
        again = await client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == etag
        other = await client.get(url, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.content == first.content
        mine = await client.get(url, headers=buyer.headers)
        assert mine.headers["Cache-Control"] == "no-store"
    await client.patch(
        f"/api/v1/products/{product['id']}", json={"price": "123000"}, headers=owner.headers
    )
    changed = await client.get(f"/api/v1/products/{product['id']}", headers={"If-None-Match": etag})
    assert changed.status_code == 200  # a new document, a new tag


@pytest.fixture
async def second_process(settings: Settings, app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Another API process on the same PostgreSQL and Redis, with its own memory: its own
    platform (Redis clients, caches, limiter) over the ORM the first one opened (Tortoise
    allows one global context per Python process)."""
    other = create_app(settings)
    transport = httpx.ASGITransport(app=other, client=("203.0.113.8", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await other.state.platform.close()


async def test_another_process_sees_a_write_within_the_staleness_bound(
    client: httpx.AsyncClient,
    second_process: httpx.AsyncClient,
    owner: Actor,
    staff: Actor,
) -> None:
    market = await published_market(client, owner, staff, "two-processes")
    product = await published_product(client, owner, staff, market["id"], price="50000")
    detail = f"/api/v1/products/{product['id']}"
    page = f"/api/v1/markets/{market['id']}/products"
    route = "/api/v1/products/{product_id}"
    # Until the other process has read it twice and its mirror knows the market, it may ask
    # the database; then it answers from memory without a query.
    for _ in range(50):
        await second_process.get(detail)
        await second_process.get(page)
        answered, queries = await queries_of(second_process, route, detail)
        if queries == 0:
            break
        await asyncio.sleep(0.05)
    assert queries == 0 and answered.json()["price"]["amount"] == "50000"

    edited = await client.patch(detail, json={"price": "65000"}, headers=owner.headers)
    assert edited.status_code == 200
    written = time.monotonic()
    assert (await client.get(detail)).json()["price"]["amount"] == "65000"  # the writer: at once
    while True:
        seen_detail = (await second_process.get(detail)).json()["price"]["amount"]
        seen_page = (await second_process.get(page)).json()["items"][0]["price"]["amount"]
        if seen_detail == seen_page == "65000":
            break
        assert time.monotonic() - written < MAX_STALENESS_SECONDS + 0.5, "stale past the bound"
        await asyncio.sleep(0.02)


async def test_memory_is_not_trusted_once_redis_cannot_be_read(
    client: httpx.AsyncClient, app: Starlette, owner: Actor, staff: Actor
) -> None:
    platform: Platform = app.state.platform
    market = await published_market(client, owner, staff, "no-redis")
    product = await published_product(client, owner, staff, market["id"])
    local = catalog_cache.local(platform)
    key = f"product:{product['id']}:en"
    for _ in range(50):
        await client.get(f"/api/v1/products/{product['id']}")
        if local.get(key) is not None:
            break
        await asyncio.sleep(0.05)
    assert local.get(key) is not None
    healthy = local.redis
    local.redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        await asyncio.sleep(MAX_STALENESS_SECONDS + 0.3)
        assert not local.fresh() and local.get(key) is None
    finally:
        await local.redis.aclose()
        local.redis = healthy
