"""Whatever a client sends, the answer is a 4xx problem document, never a 500, and nothing
changes: deep JSON, explicit nulls, numbers beyond any column, forged cursors and ids, totals
that would overflow, odd signatures. Each case here answered 500 before it was fixed."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from asoud.catalog.models import Product
from asoud.currencies.models import ExchangeRate, RateSource
from asoud.markets.models import Market
from asoud.orders.models import Order
from tests.support.market import (
    GENEROUS_LIMITS,
    Actor,
    open_market,
    placed_order,
    published_market,
    published_product,
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**GENEROUS_LIMITS, "payment_gateways": "zarinpal,stripe"}


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["status"] == status  # RFC 9457: the HTTP status, whatever the domain says
    if code is not None:
        assert problem["code"] == code, problem


def cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).rstrip(b"=").decode()


async def test_deeply_nested_json_is_refused_before_parsing(client: httpx.AsyncClient) -> None:
    body = "[" * 400 + "]" * 400
    for path in ("/api/v1/auth/otp", "/api/v1/auth/token", "/api/v1/auth/refresh"):
        response = await client.post(
            path, content=body, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 400, "json_too_deep")
    # Nesting inside strings does not count; a legitimate body still gets its own answer.
    fine = await client.post("/api/v1/auth/otp", json={"phone": "[[[[" * 50})
    assert fine.status_code == 422


async def test_explicit_null_is_refused_where_a_value_is_required(
    client: httpx.AsyncClient, owner: Actor, staff: Actor
) -> None:
    market = await published_market(client, owner, staff, "null-shop")
    product = await published_product(client, owner, staff, market["id"])
    draft = await open_market(client, owner, "null-draft")
    created = await client.post(
        f"/api/v1/markets/{market['id']}/discounts",
        json={"kind": "percentage", "value": "10"},
        headers=owner.headers,
    )
    refused = {
        "/api/v1/me": ["display_name"],
        f"/api/v1/markets/{draft['id']}": ["name", "description", "category_id", "visibility"],
        f"/api/v1/markets/{market['id']}": ["name", "city"],  # a revision of a published one
        f"/api/v1/products/{product['id']}": ["name", "price", "stock", "images", "status"],
        f"/api/v1/markets/{market['id']}/discounts/{created.json()['id']}": ["active"],
    }
    for path, fields in refused.items():
        for field in fields:
            response = await client.patch(path, json={field: None}, headers=owner.headers)
            assert_problem(response, 422, "validation_failed")
            assert response.json()["errors"][0]["field"] == f"body.{field}"
    assert (await Market.get(id=draft["id"])).name == "Market null-draft"
    # null still clears what may be empty
    cleared = await client.patch(
        f"/api/v1/markets/{draft['id']}", json={"latitude": None}, headers=owner.headers
    )
    assert cleared.status_code == 200, cleared.text
    me = await client.patch("/api/v1/me", json={"language": None}, headers=owner.headers)
    assert me.status_code == 200, me.text


@pytest.mark.parametrize(
    "query",
    [
        {"min_price": "1e999999"},
        {"max_price": "-1"},
        {"min_price": "NaN"},
        {"max_price": "Infinity"},
        {"limit": "100000000000000000000"},
    ],
)
async def test_numbers_beyond_any_column_are_refused(
    client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    assert_problem(await client.get("/api/v1/products", params=query), 422, "validation_failed")


FORGED = [
    cursor("2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000", "extra"),
    cursor(2**31, "00000000-0000-0000-0000-000000000000"),
    cursor("1e999999", "00000000-0000-0000-0000-000000000000"),
    cursor(2**64, 12),
    cursor(["a"], {"b": 1}),
    cursor(True, None),
    "not-base64!!",
    cursor(),
]


@pytest.mark.parametrize("forged", FORGED)
async def test_forged_cursors_are_a_422_on_every_list(
    client: httpx.AsyncClient, buyer: Actor, forged: str
) -> None:
    lists = [
        "/api/v1/products?sort=newest",
        "/api/v1/products?sort=price_asc",
        "/api/v1/products?sort=popular",
        "/api/v1/markets",
        "/api/v1/orders",
        "/api/v1/notifications",
        "/api/v1/wallet/transactions",
    ]
    for path in lists:
        separator = "&" if "?" in path else "?"
        response = await client.get(f"{path}{separator}cursor={forged}", headers=buyer.headers)
        assert response.status_code == 422, (path, response.text)
        assert_problem(response, 422, "validation_failed")


async def test_ids_beyond_their_columns_name_nothing(
    client: httpx.AsyncClient, buyer: Actor, staff: Actor
) -> None:
    for item in ("2147483648", "99999999999999999999999", "-1", "0", "1e5", "٣"):
        response = await client.patch(
            f"/api/v1/cart/items/{item}", json={"quantity": 1}, headers=buyer.headers
        )
        assert_problem(response, 404, "not_found")
        assert_problem(
            await client.post(f"/api/v1/admin/dead-letters/{item}/requeue", headers=staff.headers),
            404,
            "not_found",
        )
    marked = await client.post(
        "/api/v1/notifications/read", json={"ids": [2**63]}, headers=buyer.headers
    )
    assert_problem(marked, 422, "validation_failed")


async def test_totals_are_bounded_so_carts_and_orders_stay_readable(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "huge-prices")
    dear = await published_product(
        client, owner, staff, market["id"], name="Dear", price="600000000000000", stock=5
    )
    dearer = await published_product(
        client, owner, staff, market["id"], name="Dearer", price="600000000000000", stock=5
    )
    too_many = await client.post(
        "/api/v1/cart/items", json={"product_id": dear["id"], "quantity": 2}, headers=buyer.headers
    )
    assert_problem(too_many, 409, "amount_too_large")
    for product in (dear, dearer):
        added = await client.post(
            "/api/v1/cart/items",
            json={"product_id": product["id"], "quantity": 1},
            headers=buyer.headers,
        )
        assert added.status_code == 201, added.text
    assert (await client.get("/api/v1/cart", headers=buyer.headers)).status_code == 200
    refused = await client.post(
        "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers
    )
    assert_problem(refused, 409, "amount_too_large")
    assert await Order.all().count() == 0
    assert (await Product.get(id=dear["id"])).reserved == 0  # nothing held
    for path in ("/api/v1/orders", f"/api/v1/markets/{market['id']}/orders"):
        who = buyer if path == "/api/v1/orders" else owner
        assert (await client.get(path, headers=who.headers)).status_code == 200


async def test_a_conversion_beyond_any_amount_is_refused(
    client: httpx.AsyncClient, buyer: Actor
) -> None:
    await ExchangeRate.create(
        base="USD", quote="IRR", rate=Decimal("9999999999"), source=RateSource.manual
    )
    response = await client.get(
        "/api/v1/exchange-rates/convert",
        params={"amount": "999999999999999", "currency": "USD", "to": "IRR"},
    )
    assert_problem(response, 422, "validation_failed")


@pytest.mark.parametrize(
    "signature",
    ["t=1,v1=ﾐﾐﾐ", "t=١٢٣,v1=abc", "t=" + "9" * 400 + ",v1=x", "v1=" + "€" * 64, "\x00"],
)
async def test_odd_webhook_signatures_are_a_400(client: httpx.AsyncClient, signature: str) -> None:
    response = await client.post(
        "/api/v1/payments/webhooks/stripe",
        content=b"{}",
        headers={"Stripe-Signature": signature.encode("utf-8"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text


async def test_problem_status_is_the_http_status_and_domain_state_is_apart(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    _, _, order = await placed_order(client, owner, staff, buyer, "state-apart")
    await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer.headers)
    again = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer.headers)
    assert_problem(again, 409, "transition_not_allowed")
    assert again.json()["current_status"] == "cancelled"
