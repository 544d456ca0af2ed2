"""The catalogue over HTTP: publication, owner-only fields, search, filters, cursors, caching."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from asoud.catalog.models import Product
from asoud.runtime import Platform
from tests.support.market import (
    GENEROUS_LIMITS,
    Actor,
    published_market,
    published_product,
    queries_of,
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**GENEROUS_LIMITS}


@pytest.fixture
async def market(client: httpx.AsyncClient, owner: Actor, staff: Actor) -> dict[str, Any]:
    return await published_market(client, owner, staff, "book-corner")


def _hits(cache: str) -> float:
    return (
        REGISTRY.get_sample_value("asoud_cache_requests_total", {"cache": cache, "result": "hit"})
        or 0.0
    )


async def test_drafts_are_invisible_until_staff_publish(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, market: dict[str, Any]
) -> None:
    created = await client.post(
        f"/api/v1/markets/{market['id']}/products",
        json={"name": "Shahnameh", "price": "450000", "stock": 5},
        headers=owner.headers,
    )
    assert created.status_code == 201 and created.json()["status"] == "draft"
    pid = created.json()["id"]
    assert (await client.get(f"/api/v1/products/{pid}")).status_code == 404
    assert (await client.get("/api/v1/products")).json()["items"] == []
    assert (
        await client.post(f"/api/v1/admin/products/{pid}/publish", json={}, headers=owner.headers)
    ).status_code == 403
    published = await client.post(
        f"/api/v1/admin/products/{pid}/publish", json={}, headers=staff.headers
    )
    assert published.json()["status"] == "published"
    public = (await client.get(f"/api/v1/products/{pid}")).json()
    assert public["price"] == {"amount": "450000", "currency": "IRT"} and public["in_stock"] is True
    for owner_only in ("stock", "reserved", "status", "sales_count", "translations"):
        assert owner_only not in public
    owner_view = (await client.get(f"/api/v1/products/{pid}/manage", headers=owner.headers)).json()
    assert owner_view["stock"] == 5 and owner_view["status"] == "published"


async def test_content_edits_go_back_to_staff_but_price_edits_do_not(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, market: dict[str, Any]
) -> None:
    product = await published_product(client, owner, staff, market["id"], name="Hafez")
    pid = product["id"]
    repriced = await client.patch(
        f"/api/v1/products/{pid}", json={"price": "99000", "stock": 3}, headers=owner.headers
    )
    assert repriced.json()["status"] == "published"
    assert (await client.get(f"/api/v1/products/{pid}")).json()["price"]["amount"] == "99000"
    renamed = await client.patch(
        f"/api/v1/products/{pid}", json={"name": "Divan of Hafez"}, headers=owner.headers
    )
    assert renamed.json()["status"] == "draft"
    assert (await client.get(f"/api/v1/products/{pid}")).status_code == 404
    assert (
        await client.delete(f"/api/v1/products/{pid}", headers=owner.headers)
    ).status_code == 204
    assert (await Product.get(id=pid)).status.value == "archived"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"price": 12.5}, "body.price", "amount_as_string"),
        ({"price": "-1"}, "body.price", "invalid_amount"),
        ({"price": "10.5"}, "body.price", "too_many_decimals"),  # toman has no decimals
        ({"price": "100", "stock": -1}, "body.stock", "greater_than_equal"),
        ({"price": "100", "category_id": 999999}, "body.category_id", "unknown_category"),
    ],
)
async def test_bad_products_are_refused(
    client: httpx.AsyncClient,
    owner: Actor,
    market: dict[str, Any],
    body: dict[str, Any],
    field: str,
    code: str,
) -> None:
    response = await client.post(
        f"/api/v1/markets/{market['id']}/products",
        json={"name": "X", **body},
        headers=owner.headers | {"Accept-Language": "tr"},
    )
    assert response.status_code == 422, response.text
    assert (response.json()["errors"][0]["field"], response.json()["errors"][0]["code"]) == (
        field,
        code,
    )
    assert await Product.all().count() == 0


async def test_search_in_every_language_filters_and_sort(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, market: dict[str, Any]
) -> None:
    mid = market["id"]
    rumi = await published_product(
        client,
        owner,
        staff,
        mid,
        name="Masnavi",
        price="300000",
        stock=2,
        keywords=["poetry"],
        translations={"fa": {"name": "مثنوی معنوی", "description": "شعر"}},
    )
    await published_product(
        client,
        owner,
        staff,
        mid,
        name="Cookbook",
        price="150000",
        stock=0,
        translations={"tr": {"name": "Yemek kitabı"}},
    )
    await published_product(client, owner, staff, mid, name="Atlas", price="800000", stock=4)

    async def names(**params: Any) -> list[str]:
        response = await client.get("/api/v1/products", params=params)
        assert response.status_code == 200, response.text
        return [p["name"] for p in response.json()["items"]]

    assert await names(q="مثنوی") == ["Masnavi"]
    assert await names(q="poetry") == ["Masnavi"]
    assert await names(q="Yemek") == ["Cookbook"]
    assert await names(q="nothing-like-this") == []
    assert await names(sort="price_asc") == ["Cookbook", "Masnavi", "Atlas"]
    assert await names(sort="price_desc", in_stock="true") == ["Atlas", "Masnavi"]
    assert await names(min_price="200000", max_price="500000") == ["Masnavi"]
    # names follow Accept-Language when a translation exists
    fa = await client.get(f"/api/v1/products/{rumi['id']}", headers={"Accept-Language": "fa"})
    assert fa.json()["name"] == "مثنوی معنوی"
    unknown = await client.get("/api/v1/products", params={"sort": "random"})
    assert unknown.status_code == 422


async def test_cursor_pages_cover_everything_once_with_constant_queries(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Actor,
    staff: Actor,
    market: dict[str, Any],
) -> None:
    for n in range(9):
        await published_product(
            client, owner, staff, market["id"], name=f"Vol {n}", price=str(1000 * (n % 4 + 1))
        )
    for sort in ("newest", "price_asc", "price_desc", "popular"):
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {
                "limit": 4,
                "sort": sort,
                **({"cursor": cursor} if cursor else {}),
            }
            page = (
                await client.get(f"/api/v1/markets/{market['id']}/products", params=params)
            ).json()
            seen += [p["id"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 9, sort
    platform.cache.enabled = False  # measure the database path
    route = "/api/v1/products"
    _, small = await queries_of(client, route, "/api/v1/products?limit=2&sort=price_asc")
    _, large = await queries_of(client, route, "/api/v1/products?limit=100&sort=price_asc")
    assert small == large == 1
    route = "/api/v1/products/{product_id}"
    _, detail = await queries_of(client, route, f"/api/v1/products/{seen[0]}")
    assert detail <= 2


async def test_reads_are_cached_and_invalidated_by_writes(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, market: dict[str, Any]
) -> None:
    product = await published_product(
        client, owner, staff, market["id"], name="Rubaiyat", price="50000"
    )
    url = f"/api/v1/markets/{market['id']}/products"
    route = "/api/v1/markets/{market_id}/products"
    first, _ = await queries_of(client, route, url)
    hits = _hits("catalog-list")
    second, queries = await queries_of(client, route, url)
    assert second.json() == first.json() and _hits("catalog-list") == hits + 1
    assert queries <= 2  # the market's visibility check only; the page came from Redis
    await client.patch(
        f"/api/v1/products/{product['id']}", json={"price": "55000"}, headers=owner.headers
    )
    third = await client.get(url)
    assert third.json()["items"][0]["price"]["amount"] == "55000"  # never a stale price
    detail = await client.get(f"/api/v1/products/{product['id']}")
    assert detail.json()["price"]["amount"] == "55000"
    # market status changes are writes too
    await client.post(f"/api/v1/markets/{market['id']}/unpublish", headers=owner.headers)
    assert (await client.get(f"/api/v1/products/{product['id']}")).status_code == 404
    assert (await client.get("/api/v1/products")).json()["items"] == []


async def test_cache_warming_fills_the_first_pages(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Actor,
    staff: Actor,
    market: dict[str, Any],
) -> None:
    from asoud.catalog.services import warm_cache

    await published_product(client, owner, staff, market["id"], name="Gulistan")
    warmed = await warm_cache(platform)
    assert warmed >= 2
    hits = _hits("catalog-list")
    await client.get("/api/v1/products")
    await client.get(f"/api/v1/markets/{market['id']}/products")
    assert _hits("catalog-list") == hits + 2


async def test_holds_drop_caches_only_when_stock_runs_out_and_sales_only_touch_popular_lists(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, market: dict[str, Any]
) -> None:
    # Found by the load test: every checkout dropped every cached page (hit ratio 42 %).
    plenty = await published_product(
        client, owner, staff, market["id"], name="Plenty", price="1000", stock=50
    )
    scarce = await published_product(
        client, owner, staff, market["id"], name="Scarce", price="2000", stock=1
    )
    newest, popular = "/api/v1/products?sort=newest", "/api/v1/products?sort=popular"
    await client.get(newest)
    await client.get(popular)

    await client.post(
        "/api/v1/cart/items", json={"product_id": plenty["id"]}, headers=buyer.headers
    )
    order = (
        await client.post(
            "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers
        )
    ).json()
    hits = _hits("catalog-list")
    await client.get(newest)
    assert _hits("catalog-list") == hits + 1  # 49 left: every page still true, still cached

    await client.post(
        f"/api/v1/markets/{market['id']}/orders/{order['id']}/accept", headers=owner.headers
    )
    hits = _hits("catalog-list")
    await client.get(newest)
    ranked = (await client.get(popular)).json()["items"]
    assert _hits("catalog-list") == hits + 1  # the newest page survived the sale; popular did not
    assert ranked[0]["name"] == "Plenty"  # its sale now ranks it first

    await client.post(
        "/api/v1/cart/items", json={"product_id": scarce["id"]}, headers=buyer.headers
    )
    await client.post("/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers)
    shown = {p["name"]: p["in_stock"] for p in (await client.get(newest)).json()["items"]}
    assert shown == {"Plenty": True, "Scarce": False}  # the last unit held: pages dropped at once
    assert (await client.get(f"/api/v1/products/{scarce['id']}")).json()["in_stock"] is False
