"""Cart, checkout and orders over HTTP: holds, owner decisions, cancellation, expiry, coupons,
idempotency, concurrency and query budgets, against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from asoud.catalog.models import Product
from asoud.discounts.models import Discount
from asoud.orders.models import Order
from asoud.orders.services import release_expired_holds
from asoud.runtime import Platform
from tests.support.market import (
    GENEROUS_LIMITS,
    Actor,
    actor,
    published_market,
    published_product,
    queries_of,
    queries_sum,
    transaction_statements,
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**GENEROUS_LIMITS, "database_pool_max": 30}


@pytest.fixture
async def market(client: httpx.AsyncClient, owner: Actor, staff: Actor) -> dict[str, Any]:
    return await published_market(client, owner, staff, "nut-shop")


async def _stock(product_id: str) -> tuple[int, int]:
    product = await Product.get(id=product_id)
    return product.stock, product.reserved


async def _checkout(
    client: httpx.AsyncClient, who: Actor, market_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/checkout", json={"market_id": market_id, **body}, headers=who.headers
    )


async def test_cart_checkout_and_cash_order_accepted(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, market: dict[str, Any]
) -> None:
    pistachio = await published_product(
        client, owner, staff, market["id"], name="Pistachio", price="250000", stock=5
    )
    almond = await published_product(
        client, owner, staff, market["id"], name="Almond", price="120000", stock=9
    )
    await client.post(
        "/api/v1/cart/items",
        json={"product_id": pistachio["id"], "quantity": 1},
        headers=buyer.headers,
    )
    merged = await client.post(
        "/api/v1/cart/items",
        json={"product_id": pistachio["id"], "quantity": 1},
        headers=buyer.headers,
    )
    assert merged.status_code == 201 and merged.json()["items"][0]["quantity"] == 2
    cart = (
        await client.post(
            "/api/v1/cart/items",
            json={"product_id": almond["id"], "quantity": 3},
            headers=buyer.headers,
        )
    ).json()
    assert cart["subtotal"] == {"amount": "860000", "currency": "IRT"}
    too_many = await client.patch(
        f"/api/v1/cart/items/{cart['items'][1]['id']}", json={"quantity": 10}, headers=buyer.headers
    )
    assert too_many.status_code == 409 and too_many.json()["code"] == "insufficient_stock"
    assert too_many.json()["available"] == 9

    # The owner raises the price after the cart was filled; checkout freezes today's price.
    order = await _checkout(client, buyer, market["id"], note="Ring the bell")
    assert order.status_code == 201, order.text
    body = order.json()
    assert body["status"] == "pending" and body["total"] == {"amount": "860000", "currency": "IRT"}
    assert await _stock(pistachio["id"]) == (5, 2)  # held, not yet taken
    await client.patch(
        f"/api/v1/products/{pistachio['id']}", json={"price": "999999"}, headers=owner.headers
    )
    assert (await client.get("/api/v1/cart", headers=buyer.headers)).json()[
        "items"
    ] == []  # cart emptied

    listed = (
        await client.get(f"/api/v1/markets/{market['id']}/orders", headers=owner.headers)
    ).json()
    assert [o["id"] for o in listed["items"]] == [body["id"]]
    accepted = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{body['id']}/accept", headers=owner.headers
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "completed"
    assert accepted.json()["total"]["amount"] == "860000"
    assert await _stock(pistachio["id"]) == (3, 0)  # taken exactly once
    assert (await Product.get(id=pistachio["id"])).sales_count == 2
    again = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{body['id']}/accept", headers=owner.headers
    )
    assert again.status_code == 409 and again.json()["code"] == "transition_not_allowed"
    assert await _stock(pistachio["id"]) == (3, 0)


async def test_rejected_and_cancelled_orders_give_stock_back(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, market: dict[str, Any]
) -> None:
    product = await published_product(client, owner, staff, market["id"], name="Saffron", stock=4)
    for _ in range(2):
        await client.post(
            "/api/v1/cart/items",
            json={"product_id": product["id"], "quantity": 2},
            headers=buyer.headers,
        )
        await _checkout(client, buyer, market["id"])
    first, second = (await client.get("/api/v1/orders", headers=buyer.headers)).json()["items"]
    assert await _stock(product["id"]) == (4, 4)
    no_reason = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{first['id']}/reject",
        json={},
        headers=owner.headers,
    )
    assert no_reason.status_code == 422
    rejected = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{first['id']}/reject",
        json={"reason": "Out of season"},
        headers=owner.headers,
    )
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "Out of season"
    cancelled = await client.post(f"/api/v1/orders/{second['id']}/cancel", headers=buyer.headers)
    assert cancelled.json()["status"] == "cancelled"
    assert await _stock(product["id"]) == (4, 0)
    assert (
        await client.post(f"/api/v1/orders/{second['id']}/cancel", headers=buyer.headers)
    ).status_code == 409
    fulfil = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{second['id']}/fulfil", headers=owner.headers
    )
    assert fulfil.status_code == 409  # only paid orders are fulfilled


async def test_orders_are_private(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
    market: dict[str, Any],
) -> None:
    product = await published_product(client, owner, staff, market["id"])
    await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
    )
    order = (await _checkout(client, buyer, market["id"])).json()
    other = await actor(client, platform, "09123000009")
    assert (
        await client.get(f"/api/v1/orders/{order['id']}", headers=other.headers)
    ).status_code == 404
    assert (
        await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=other.headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/markets/{market['id']}/orders", headers=other.headers)
    ).status_code == 404
    assert (
        await client.post(
            f"/api/v1/markets/{market['id']}/orders/{order['id']}/accept", headers=buyer.headers
        )
    ).status_code == 404


async def test_checkout_is_idempotent(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
    market: dict[str, Any],
) -> None:
    product = await published_product(client, owner, staff, market["id"], stock=10)
    await client.post(
        "/api/v1/cart/items",
        json={"product_id": product["id"], "quantity": 2},
        headers=buyer.headers,
    )
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post(
        "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers | key
    )
    replay = await client.post(
        "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers | key
    )
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    other_body = await client.post(
        "/api/v1/checkout",
        json={"market_id": market["id"], "note": "x"},
        headers=buyer.headers | key,
    )
    assert other_body.status_code == 422 and other_body.json()["code"] == "idempotency_key_reused"
    assert await Order.all().count() == 1 and await _stock(product["id"]) == (10, 2)
    # Redis lost the record (flush, failover): the database still knows the key
    async for slot in platform.redis.scan_iter(match=platform.keys("idem", "*")):
        await platform.redis.delete(slot)
    again = await client.post(
        "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers | key
    )
    assert again.json()["id"] == first.json()["id"] and await Order.all().count() == 1


async def test_unavailable_products_cannot_be_bought(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, market: dict[str, Any]
) -> None:
    product = await published_product(client, owner, staff, market["id"], stock=1)
    draft = (
        await client.post(
            f"/api/v1/markets/{market['id']}/products",
            json={"name": "Soon", "price": "1"},
            headers=owner.headers,
        )
    ).json()
    refused = await client.post(
        "/api/v1/cart/items", json={"product_id": draft["id"]}, headers=buyer.headers
    )
    unknown = await client.post(
        "/api/v1/cart/items", json={"product_id": str(uuid.uuid4())}, headers=buyer.headers
    )
    # a draft answers exactly like an id that names nothing: its existence is not disclosed
    assert refused.status_code == unknown.status_code == 404
    assert refused.json() == unknown.json()
    empty = await _checkout(client, buyer, market["id"])
    assert empty.status_code == 409 and empty.json()["code"] == "cart_empty"
    await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
    )
    await client.patch(
        f"/api/v1/products/{product['id']}", json={"name": "Renamed"}, headers=owner.headers
    )  # back to draft
    changed = await _checkout(client, buyer, market["id"])
    assert changed.status_code == 409 and changed.json()["code"] == "cart_changed"
    assert await Order.all().count() == 0


async def test_expired_holds_are_released(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
    market: dict[str, Any],
) -> None:
    product = await published_product(client, owner, staff, market["id"], stock=3)
    await client.post(
        "/api/v1/cart/items",
        json={"product_id": product["id"], "quantity": 3},
        headers=buyer.headers,
    )
    order = (await _checkout(client, buyer, market["id"], payment_method="online")).json()
    hold_left = datetime.fromisoformat(order["reserved_until"]) - datetime.now(UTC)
    assert timedelta(minutes=14) < hold_left <= timedelta(minutes=15)
    assert await release_expired_holds(platform) == 0  # not yet
    await Order.filter(id=order["id"]).update(
        reserved_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert await release_expired_holds(platform) == 1
    assert await _stock(product["id"]) == (3, 0)
    expired = (await client.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers)).json()
    assert expired["status"] == "cancelled" and expired["reason"] == "reservation expired"
    assert await release_expired_holds(platform) == 0


async def test_fifty_buyers_for_the_last_three_units(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Actor,
    staff: Actor,
    market: dict[str, Any],
) -> None:
    product = await published_product(client, owner, staff, market["id"], name="Last ones", stock=3)
    buyers = [await actor(client, platform, f"0912400{n:04d}") for n in range(50)]
    for who in buyers:
        added = await client.post(
            "/api/v1/cart/items", json={"product_id": product["id"]}, headers=who.headers
        )
        assert added.status_code == 201
    results = await asyncio.gather(*(_checkout(client, who, market["id"]) for who in buyers))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] * 3 + [409] * 47
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"insufficient_stock"}
    assert await _stock(product["id"]) == (3, 3)
    # and the owner can accept all three without any of them failing for stock
    for response in results:
        if response.status_code == 201:
            accepted = await client.post(
                f"/api/v1/markets/{market['id']}/orders/{response.json()['id']}/accept",
                headers=owner.headers,
            )
            assert accepted.status_code == 200
    assert await _stock(product["id"]) == (0, 0)


async def test_coupon_used_up_to_its_limit(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Actor,
    staff: Actor,
    market: dict[str, Any],
) -> None:
    product = await published_product(client, owner, staff, market["id"], price="200000", stock=100)
    created = await client.post(
        f"/api/v1/markets/{market['id']}/discounts",
        json={"kind": "percentage", "value": "25", "usage_limit": 2},
        headers=owner.headers,
    )
    assert created.status_code == 201
    code = created.json()["code"]
    assert len(code) == 8 and code.isupper()
    buyers = [await actor(client, platform, f"0912500{n:04d}") for n in range(3)]
    for n, who in enumerate(buyers):
        await client.post(
            "/api/v1/cart/items", json={"product_id": product["id"]}, headers=who.headers
        )
        check = await client.post(
            "/api/v1/discounts/validate",
            json={"market_id": market["id"], "code": code},
            headers=who.headers,
        )
        order = await _checkout(client, who, market["id"], discount_code=code)
        if n < 2:
            assert check.json()["discount"] == {"amount": "50000", "currency": "IRT"}
            assert order.status_code == 201 and order.json()["total"]["amount"] == "150000"
            assert order.json()["discount_code"] == code
        else:
            assert check.status_code == 409 and check.json()["reason"] == "discount_used_up"
            assert order.status_code == 409 and order.json()["code"] == "discount_invalid"
    # a cancelled order gives its use back
    first_order = (await client.get("/api/v1/orders", headers=buyers[0].headers)).json()["items"][0]
    await client.post(f"/api/v1/orders/{first_order['id']}/cancel", headers=buyers[0].headers)
    assert (await _checkout(client, buyers[2], market["id"], discount_code=code)).status_code == 201
    discount = await Discount.get(code=code)
    assert (discount.used, discount.reserved) == (0, 2)


async def test_coupon_rules(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
    market: dict[str, Any],
) -> None:
    product = await published_product(client, owner, staff, market["id"], price="100000", stock=100)
    vip = await actor(client, platform, "09123000010")
    private = (
        await client.post(
            f"/api/v1/markets/{market['id']}/discounts",
            json={"kind": "fixed", "value": "30000", "allowed_phones": [vip.phone]},
            headers=owner.headers,
        )
    ).json()["code"]
    already_over = await client.post(
        f"/api/v1/markets/{market['id']}/discounts",
        json={
            "kind": "percentage",
            "value": "10",
            "expires_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        },
        headers=owner.headers,
    )
    assert already_over.status_code == 422
    assert already_over.json()["errors"][0]["code"] == "expiry_in_past"
    expired = (
        await client.post(
            f"/api/v1/markets/{market['id']}/discounts",
            json={
                "kind": "percentage",
                "value": "10",
                "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            },
            headers=owner.headers,
        )
    ).json()["code"]
    # a day passes
    await Discount.filter(code=expired).update(expires_at=datetime.now(UTC) - timedelta(hours=1))
    for who in (buyer, vip):
        await client.post(
            "/api/v1/cart/items", json={"product_id": product["id"]}, headers=who.headers
        )

    async def reason(who: Actor, code: str) -> str:
        response = await client.post(
            "/api/v1/discounts/validate",
            json={"market_id": market["id"], "code": code},
            headers=who.headers | {"Accept-Language": "fa"},
        )
        return response.json().get("reason", "ok") if response.status_code == 409 else "ok"

    assert await reason(buyer, private) == "discount_not_for_you"
    assert await reason(vip, private) == "ok"
    assert await reason(buyer, expired) == "discount_expired"
    assert await reason(buyer, "NOSUCHCODE") == "discount_unknown"
    assert (await _checkout(client, vip, market["id"], discount_code=private)).json()["total"][
        "amount"
    ] == "70000"
    await client.post("/api/v1/cart/items", json={"product_id": product["id"]}, headers=vip.headers)
    assert await reason(vip, private) == "discount_already_used"  # once per buyer
    bad = await client.post(
        f"/api/v1/markets/{market['id']}/discounts",
        json={"kind": "percentage", "value": "150"},
        headers=owner.headers,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "invalid_percentage"


async def test_coupon_limit_two_under_twenty_concurrent_checkouts(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Actor,
    staff: Actor,
    market: dict[str, Any],
) -> None:
    product = await published_product(
        client, owner, staff, market["id"], price="100000", stock=1000
    )
    code = (
        await client.post(
            f"/api/v1/markets/{market['id']}/discounts",
            json={"kind": "fixed", "value": "10000", "usage_limit": 2},
            headers=owner.headers,
        )
    ).json()["code"]
    buyers = [await actor(client, platform, f"0912600{n:04d}") for n in range(20)]
    for who in buyers:
        await client.post(
            "/api/v1/cart/items", json={"product_id": product["id"]}, headers=who.headers
        )
    results = await asyncio.gather(
        *(_checkout(client, who, market["id"], discount_code=code) for who in buyers)
    )
    assert sorted(r.status_code for r in results) == [201] * 2 + [409] * 18
    discount = await Discount.get(code=code)
    assert discount.reserved + discount.used == 2
    assert await Order.filter(discount_id=discount.id).count() == 2
    assert await _stock(product["id"]) == (1000, 2)  # refused checkouts held nothing


async def test_lists_have_constant_query_budgets(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, market: dict[str, Any]
) -> None:
    products = [
        await published_product(client, owner, staff, market["id"], name=f"P{n}", stock=50)
        for n in range(6)
    ]
    for product in products:
        await client.post(
            "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
        )
    _, cart_queries = await queries_of(
        client, "/api/v1/cart", "/api/v1/cart", headers=buyer.headers
    )
    for product in products:  # six orders, one line each... and then one with all
        await client.post(
            "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
        )
    await _checkout(client, buyer, market["id"])
    for product in products[:5]:
        await client.post(
            "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
        )
        await _checkout(client, buyer, market["id"])
    route = "/api/v1/orders"
    small, small_queries = await queries_of(
        client, route, "/api/v1/orders?limit=1", headers=buyer.headers
    )
    large, large_queries = await queries_of(
        client, route, "/api/v1/orders?limit=100", headers=buyer.headers
    )
    assert len(small.json()["items"]) == 1 and len(large.json()["items"]) == 6
    assert small_queries == large_queries <= 4  # auth, orders, lines, codes
    assert cart_queries <= 4  # auth, carts, items with products
    owner_route = "/api/v1/markets/{market_id}/orders"
    _, few = await queries_of(
        client, owner_route, f"/api/v1/markets/{market['id']}/orders?limit=1", headers=owner.headers
    )
    _, many = await queries_of(
        client,
        owner_route,
        f"/api/v1/markets/{market['id']}/orders?limit=100",
        headers=owner.headers,
    )
    assert few == many


async def test_buying_stays_within_the_query_budget(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, market: dict[str, Any]
) -> None:
    """The SLO allows 10 SQL queries per request: the buying path's writes stay under it, and
    transaction control (BEGIN/COMMIT) is counted apart from queries."""
    product = await published_product(client, owner, staff, market["id"], stock=10)
    add = "/api/v1/cart/items"
    body = {"product_id": product["id"], "quantity": 1}
    first, first_queries = await queries_of(
        client, add, add, "POST", json=body, headers=buyer.headers
    )
    merged, merged_queries = await queries_of(
        client, add, add, "POST", json=body, headers=buyer.headers
    )
    assert first.status_code == merged.status_code == 201
    assert merged.json()["items"][0]["quantity"] == 2
    assert first_queries <= 5 and merged_queries <= 5, (first_queries, merged_queries)

    control_before = transaction_statements("/api/v1/checkout")
    placed, checkout_queries = await queries_of(
        client,
        "/api/v1/checkout",
        "/api/v1/checkout",
        "POST",
        json={"market_id": market["id"], "payment_method": "cash"},
        headers=buyer.headers,
    )
    assert placed.status_code == 201, placed.text
    assert checkout_queries <= 10, checkout_queries
    assert transaction_statements("/api/v1/checkout") - control_before == 2  # BEGIN, COMMIT

    route = "/api/v1/markets/{market_id}/orders/{order_id}/accept"
    accepted, accept_queries = await queries_of(
        client,
        route,
        f"/api/v1/markets/{market['id']}/orders/{placed.json()['id']}/accept",
        "POST",
        headers=owner.headers,
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "completed", accepted.text
    assert accept_queries <= 10, accept_queries
    assert await _stock(product["id"]) == (8, 0)


async def test_overlapping_multi_product_checkouts_hold_all_or_nothing(
    client: httpx.AsyncClient,
    platform: Platform,
    owner: Actor,
    staff: Actor,
    market: dict[str, Any],
) -> None:
    """Twenty buyers, each with all four products (added in different orders), race for
    stock that covers five of them; the holds of one checkout are one statement."""
    products = [
        await published_product(client, owner, staff, market["id"], name=f"Kit {n}", stock=5 + n)
        for n in range(4)
    ]
    buyers = [await actor(client, platform, f"0912500{n:04d}") for n in range(20)]
    for n, who in enumerate(buyers):
        ordering = products if n % 2 else list(reversed(products))
        for product in ordering:
            added = await client.post(
                "/api/v1/cart/items", json={"product_id": product["id"]}, headers=who.headers
            )
            assert added.status_code == 201
    route = "/api/v1/checkout"
    before = queries_sum(route)
    results = await asyncio.gather(*(_checkout(client, who, market["id"]) for who in buyers))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] * 5 + [409] * 15  # the first product (stock 5) decides
    refused = [r.json() for r in results if r.status_code == 409]
    assert {r["code"] for r in refused} == {"insufficient_stock"}
    assert {r["product_id"] for r in refused} == {products[0]["id"]}
    for n, product in enumerate(products):  # held exactly five of each, never a partial hold
        assert await _stock(product["id"]) == (5 + n, 5)
    assert (queries_sum(route) - before) / len(buyers) <= 10  # whatever the cart's size
