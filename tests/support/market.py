"""Helpers to set up markets and products through the real API."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import REGISTRY

from asoud.demo import seed_taxonomy
from asoud.identity.models import User
from asoud.markets.services import mark_subscription_paid
from asoud.runtime import Platform
from asoud.taxonomy.models import Category
from tests.support.login import bearer, e164, forget_codes, login

# Rate limits out of the way of tests that log many people in (limits have their own tests).
# Functional tests buy, notify and log in far more than one person would: the abuse bounds
# (rates, holds per buyer, message batching) have tests of their own (test_abuse, ...).
GENEROUS_LIMITS: dict[str, Any] = {
    "rate_limit_login_phone": "100000/minute",
    "rate_limit_login_ip": "100000/minute",
    "rate_limit_user": "100000/hour",
    "rate_limit_burst": "100000/minute",
    "rate_limit_anonymous": "100000/hour",
    "max_open_orders_per_market": 1000,
    "max_held_units_per_market": 100_000,
    "notification_batch_seconds": 0,
}

PROFILE = {
    "city": "Tehran",
    "address": "Valiasr St. 100",
    "latitude": "35.7",
    "longitude": "51.4",
    "contact_phone": "+982188000000",
}


class Actor:
    """A logged-in person: their tokens and auth headers."""

    def __init__(self, phone: str, tokens: dict[str, str]) -> None:
        self.phone = phone
        self.tokens = tokens
        self.headers = bearer(tokens)


async def actor(
    client: httpx.AsyncClient, platform: Platform, phone: str, *, staff: bool = False
) -> Actor:
    await forget_codes(platform)
    tokens = await login(client, platform, phone)
    if staff:
        await User.filter(phone=e164(phone)).update(is_staff=True)
    return Actor(phone, tokens)


async def leaf_id(slug: str = "books-new") -> int:
    await seed_taxonomy()
    return (await Category.get(slug=slug)).id


async def open_market(
    client: httpx.AsyncClient, owner: Actor, business_id: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "type": "shop",
        "business_id": business_id,
        "name": f"Market {business_id}",
        "category_id": await leaf_id(),
        **extra,
    }
    response = await client.post("/api/v1/markets", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def pay_fee(market_id: str) -> None:
    """The market's subscription fee as a settled payment would record it."""
    from tortoise.transactions import in_transaction

    from asoud.markets.models import Market
    from asoud.markets.services import fee_due

    async with in_transaction():
        due, currency = await fee_due(await Market.get(id=market_id))
        await mark_subscription_paid(market_id, due, currency)


async def published_market(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, business_id: str, **extra: Any
) -> dict[str, Any]:
    market = await open_market(client, owner, business_id, **PROFILE, **extra)
    await pay_fee(market["id"])
    submitted = await client.post(f"/api/v1/markets/{market['id']}/submit", headers=owner.headers)
    assert submitted.status_code == 200, submitted.text
    approved = await client.post(
        f"/api/v1/admin/markets/{market['id']}/review",
        json={"decision": "approve"},
        headers=staff.headers,
    )
    assert approved.status_code == 200, approved.text
    return approved.json()  # type: ignore[no-any-return]


async def published_product(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, market_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"name": "Book", "price": "100000", "stock": 10, **fields}
    created = await client.post(
        f"/api/v1/markets/{market_id}/products", json=body, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    published = await client.post(
        f"/api/v1/admin/products/{created.json()['id']}/publish",
        json={"publish": True},
        headers=staff.headers,
    )
    assert published.status_code == 200, published.text
    return published.json()  # type: ignore[no-any-return]


def queries_sum(route: str) -> float:
    """SQL statements counted so far for requests to a route template (from /metrics)."""
    return REGISTRY.get_sample_value("asoud_db_queries_per_request_sum", {"route": route}) or 0.0


async def queries_of(
    client: httpx.AsyncClient, route: str, url: str, method: str = "GET", **kwargs: Any
) -> tuple[httpx.Response, float]:
    before = queries_sum(route)
    response = await client.request(method, url, **kwargs)
    return response, queries_sum(route) - before


def transaction_statements(route: str) -> float:
    """BEGIN/COMMIT/SAVEPOINT round trips counted so far for a route (apart from queries)."""
    return (
        REGISTRY.get_sample_value("asoud_db_transaction_statements_total", {"route": route}) or 0.0
    )


async def placed_order(
    client: httpx.AsyncClient,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
    business_id: str,
    *,
    currency: str = "IRT",
    price: str = "450000",
    stock: int = 5,
    quantity: int = 2,
    payment_method: str = "online",
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A published market and product, and the buyer's checked-out order: (market, product, order)."""
    extra = {} if currency == "IRT" else {"currency": currency}
    market = await published_market(client, owner, staff, business_id, **extra)
    product = await published_product(client, owner, staff, market["id"], price=price, stock=stock)
    added = await client.post(
        "/api/v1/cart/items",
        json={"product_id": product["id"], "quantity": quantity},
        headers=buyer.headers,
    )
    assert added.status_code == 201, added.text
    order = await client.post(
        "/api/v1/checkout",
        json={"market_id": market["id"], "payment_method": payment_method},
        headers=buyer.headers,
    )
    assert order.status_code == 201, order.text
    return market, product, order.json()
