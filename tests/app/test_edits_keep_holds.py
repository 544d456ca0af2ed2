"""Owner edits never overwrite what checkouts hold, and the database refuses broken counters.

An edit used to read the row, then save every column from that read: a stock hold committed
in between was lost, and the product was oversold. These tests force that interleaving, race
real buyers against real edits on PostgreSQL, and check the CHECK constraints behind it all.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from asoud.catalog import services as catalog
from asoud.catalog.models import Product
from asoud.catalog.schemas import ProductPatch
from asoud.discounts import services as discounts
from asoud.discounts.models import Discount
from asoud.discounts.schemas import DiscountPatch
from asoud.identity.models import User
from asoud.markets import services as markets
from asoud.markets.models import Market, MarketStatus
from asoud.markets.schemas import MarketPatch
from asoud.orders.models import Order, OrderLine
from asoud.orders.services import owner_action
from asoud.orders.stock import StockLedgerMismatch
from asoud.platform.settings import Settings
from asoud.runtime import Platform
from asoud.wallet.ledger import account_of
from asoud.wallet.models import AccountKind
from tests.support.login import e164
from tests.support.market import (
    GENEROUS_LIMITS,
    PROFILE,
    Actor,
    actor,
    open_market,
    pay_fee,
    published_market,
    published_product,
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**GENEROUS_LIMITS, "database_pool_max": 30}


async def _buy(
    client: httpx.AsyncClient, buyer: Actor, market_id: str, product_id: str, quantity: int = 1
) -> httpx.Response:
    added = await client.post(
        "/api/v1/cart/items",
        json={"product_id": product_id, "quantity": quantity},
        headers=buyer.headers,
    )
    if added.status_code != 201:
        return added
    return await client.post(
        "/api/v1/checkout",
        json={"market_id": market_id, "payment_method": "cash"},
        headers=buyer.headers,
    )


async def _held_by_orders(product_id: str) -> int:
    lines = await OrderLine.filter(
        product_id=product_id, order__stock_state="reserved"
    ).values_list("quantity", flat=True)
    return sum(lines)


async def test_an_edit_from_a_stale_read_keeps_a_hold_committed_in_between(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "stale-edit")
    product = await published_product(client, owner, staff, market["id"], stock=5)
    stale = await Product.get(id=product["id"])  # the owner's edit read the row here ...
    ordered = await _buy(client, buyer, market["id"], product["id"], quantity=2)
    assert ordered.status_code == 201, ordered.text  # ... a checkout held 2 units ...
    edited = await catalog.update_product(platform, stale, ProductPatch(price="120000"))
    # ... and the edit wrote only the price: the hold and the status survive.
    row = await Product.get(id=product["id"])
    assert (row.stock, row.reserved, str(row.price)) == (5, 2, "120000.00")
    assert (edited.reserved, edited.status.value) == (2, "published")


async def test_stock_cannot_be_set_below_what_orders_hold(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "stock-floor")
    product = await published_product(client, owner, staff, market["id"], stock=5)
    order = await _buy(client, buyer, market["id"], product["id"], quantity=3)
    assert order.status_code == 201
    refused = await client.patch(
        f"/api/v1/products/{product['id']}",
        json={"stock": 2, "price": "1"},
        headers={**owner.headers, "Accept-Language": "fa"},
    )
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "stock_below_reserved" and problem["reserved"] == 3
    assert "۳" in problem["detail"] or "3" in problem["detail"]
    row = await Product.get(id=product["id"])
    assert (row.stock, row.reserved, str(row.price)) == (5, 3, "100000.00")  # nothing changed
    # Exactly what is held is allowed, and accepting the order then empties the stock.
    assert (
        await client.patch(
            f"/api/v1/products/{product['id']}", json={"stock": 3}, headers=owner.headers
        )
    ).status_code == 200
    accepted = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{order.json()['id']}/accept",
        headers=owner.headers,
    )
    assert accepted.status_code == 200, accepted.text
    row = await Product.get(id=product["id"])
    assert (row.stock, row.reserved) == (0, 0)


async def test_price_edits_during_a_rush_never_oversell(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor
) -> None:
    """100 buyers for 20 units while the owner edits the price 30 times, over HTTP."""
    market = await published_market(client, owner, staff, "rush-edits")
    product = await published_product(client, owner, staff, market["id"], stock=20)
    buyers = [await actor(client, platform, f"0912300{i:04d}") for i in range(100)]

    async def edit(i: int) -> int:
        response = await client.patch(
            f"/api/v1/products/{product['id']}",
            json={"price": str(100000 + i)},
            headers=owner.headers,
        )
        return response.status_code

    results = await asyncio.gather(
        *(_buy(client, b, market["id"], product["id"]) for b in buyers),
        *(edit(i) for i in range(30)),
    )
    orders = [r for r in results[:100] if isinstance(r, httpx.Response) and r.status_code == 201]
    edits = results[100:]
    assert all(status == 200 for status in edits), edits
    row = await Product.get(id=product["id"])
    assert len(orders) == 20
    assert row.reserved == 20 == await _held_by_orders(product["id"])
    assert row.stock == 20


async def test_a_discount_edit_keeps_the_uses_held_meanwhile(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "stale-coupon")
    product = await published_product(client, owner, staff, market["id"], stock=5)
    created = await client.post(
        f"/api/v1/markets/{market['id']}/discounts",
        json={"kind": "percentage", "value": "10", "usage_limit": 3},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    stale = await Discount.get(id=created.json()["id"])
    await client.post(
        "/api/v1/cart/items",
        json={"product_id": product["id"], "quantity": 1},
        headers=buyer.headers,
    )
    order = await client.post(
        "/api/v1/checkout",
        json={"market_id": market["id"], "discount_code": created.json()["code"]},
        headers=buyer.headers,
    )
    assert order.status_code == 201, order.text
    await discounts.update_discount(stale, DiscountPatch(active=True))
    assert (await Discount.get(id=stale.id)).reserved == 1
    # A limit down to what is held still fits; the edit writes only its own fields.
    lowered = await client.patch(
        f"/api/v1/markets/{market['id']}/discounts/{stale.id}",
        json={"usage_limit": 1, "active": False},
        headers=owner.headers,
    )
    assert lowered.status_code == 200, lowered.text
    row = await Discount.get(id=stale.id)
    assert (row.reserved, row.usage_limit, row.active) == (1, 1, False)


async def test_a_discount_limit_below_its_uses_is_refused(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, platform: Platform
) -> None:
    market = await published_market(client, owner, staff, "coupon-floor")
    product = await published_product(client, owner, staff, market["id"], stock=5)
    created = (
        await client.post(
            f"/api/v1/markets/{market['id']}/discounts",
            json={"kind": "fixed", "value": "1000", "usage_limit": 5},
            headers=owner.headers,
        )
    ).json()
    for phone in ("09124000001", "09124000002"):
        who = await actor(client, platform, phone)
        await client.post(
            "/api/v1/cart/items",
            json={"product_id": product["id"], "quantity": 1},
            headers=who.headers,
        )
        placed = await client.post(
            "/api/v1/checkout",
            json={"market_id": market["id"], "discount_code": created["code"]},
            headers=who.headers,
        )
        assert placed.status_code == 201, placed.text
    refused = await client.patch(
        f"/api/v1/markets/{market['id']}/discounts/{created['id']}",
        json={"usage_limit": 1},
        headers=owner.headers,
    )
    assert refused.status_code == 409 and refused.json()["code"] == "usage_limit_below_uses"
    assert refused.json()["uses"] == 2
    assert (await Discount.get(id=created["id"])).usage_limit == 5


async def test_a_market_edit_from_a_stale_read_keeps_its_status(
    client: httpx.AsyncClient, platform: Platform, owner: Actor
) -> None:
    market = await open_market(client, owner, "stale-market", **PROFILE)
    stale = await Market.get(id=market["id"])  # read while a draft ...
    await pay_fee(market["id"])
    submitted = await client.post(f"/api/v1/markets/{market['id']}/submit", headers=owner.headers)
    assert submitted.status_code == 200  # ... queued for review meanwhile
    await markets.edit_market(platform, stale, MarketPatch(slogan="Fresh every day"))
    row = await Market.get(id=market["id"])
    assert row.status is MarketStatus.queued and row.fee_paid_at is not None
    assert row.slogan == "Fresh every day"


async def test_an_edit_of_a_market_published_meanwhile_files_a_revision(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor
) -> None:
    market = await open_market(client, owner, "raced-review", **PROFILE)
    await pay_fee(market["id"])
    await client.post(f"/api/v1/markets/{market['id']}/submit", headers=owner.headers)
    stale = await Market.get(id=market["id"])  # queued when read ...
    approved = await client.post(
        f"/api/v1/admin/markets/{market['id']}/review",
        json={"decision": "approve"},
        headers=staff.headers,
    )
    assert approved.status_code == 200  # ... published before the edit is written
    edited = await markets.edit_market(platform, stale, MarketPatch(name="Renamed"))
    row = await Market.get(id=market["id"])
    assert row.status is MarketStatus.published and row.name == "Market raced-review"
    assert not isinstance(edited, Market)  # a revision for staff, live data unchanged


async def test_take_and_release_fail_loudly_when_the_counters_disagree(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "loud-stock")
    product = await published_product(client, owner, staff, market["id"], stock=5)
    placed = await _buy(client, buyer, market["id"], product["id"], quantity=2)
    order_id = placed.json()["id"]
    # Somebody "fixed" the row by hand: the hold is gone from it, the order still has it.
    await Product.filter(id=product["id"]).update(reserved=0)
    row = await Market.get(id=market["id"])
    for action in ("accept_cash", "reject"):
        with pytest.raises(StockLedgerMismatch):
            await owner_action(platform, row, order_id, action, reason="x")
        order = await Order.get(id=order_id)
        assert (order.status.value, order.stock_state.value) == ("pending", "reserved")
    assert (await Product.get(id=product["id"])).stock == 5


@pytest.mark.parametrize(
    ("table", "assignment", "constraint"),
    [
        ("catalog_product", "reserved = stock + 1", "catalog_product_reserved_within_stock"),
        ("catalog_product", "reserved = -1", "catalog_product_reserved_within_stock"),
        ("catalog_product", "stock = -1", "catalog_product_reserved_within_stock"),
        ("discounts_discount", "used = usage_limit + 1", "discounts_discount_uses_within_limit"),
        ("discounts_discount", "reserved = -1", "discounts_discount_uses_within_limit"),
        ("wallet_account", "balance = -0.01", "wallet_account_customer_balance_not_negative"),
    ],
)
async def test_the_database_refuses_broken_counters(
    client: httpx.AsyncClient,
    settings: Settings,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
    table: str,
    assignment: str,
    constraint: str,
) -> None:
    """Whatever code path (or hand) tries it, PostgreSQL refuses; all rows are checked."""
    market = await published_market(client, owner, staff, "checked-" + uuid.uuid4().hex[:6])
    product = await published_product(client, owner, staff, market["id"], stock=5)
    await client.post(
        f"/api/v1/markets/{market['id']}/discounts",
        json={"kind": "fixed", "value": "1000", "usage_limit": 2},
        headers=owner.headers,
    )
    user = await User.get(phone=e164(buyer.phone))
    await account_of(user.id, AccountKind.customer, "IRT")
    await account_of(None, AccountKind.external, "IRT")
    assert product["stock"] == 5
    conn = await asyncpg.connect(settings.database_url)
    try:
        where = "WHERE kind = 'customer'" if table == "wallet_account" else ""
        with pytest.raises(asyncpg.CheckViolationError) as caught:
            await conn.execute(f"UPDATE {table} SET {assignment} {where}")  # noqa: S608
        assert caught.value.constraint_name == constraint
        if table == "wallet_account":  # the platform's own accounts may go below zero
            await conn.execute("UPDATE wallet_account SET balance = -5 WHERE kind = 'external'")
    finally:
        await conn.close()
