"""Money exact: what a gateway charges is what the platform credits, amounts keep the
currency's precision, every payment and refund goes through its rules (issue 11)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from asoud.markets.models import Market
from asoud.orders.models import Order
from asoud.payments.models import PaymentSession, Refund
from asoud.wallet.services import balance, ledger_is_balanced
from tests.support.fake_gateways import FakeZarinpal
from tests.support.market import (
    GENEROUS_LIMITS,
    PROFILE,
    Actor,
    leaf_id,
    pay_fee,
    placed_order,
    published_market,
    published_product,
)
from tests.support.servers import serve


@pytest.fixture
def zarinpal() -> Iterator[FakeZarinpal]:
    fake = FakeZarinpal()
    with serve(fake.app()) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def settings_overrides(zarinpal: FakeZarinpal) -> dict[str, Any]:
    url = zarinpal.url  # type: ignore[attr-defined]
    return {
        **GENEROUS_LIMITS,
        "public_base_url": "http://testserver",
        "zarinpal_api_url": url,
        "zarinpal_startpay_url": f"{url}/pg/StartPay/",
        "zarinpal_merchant_id": zarinpal.merchant_id,
    }


async def _pay_at_zarinpal(client: httpx.AsyncClient, redirect_url: str) -> None:
    async with httpx.AsyncClient() as browser:
        back = await browser.get(redirect_url, params={"pay": "1"})
    location = httpx.URL(back.headers["location"])
    assert (await client.get(f"{location.path}?{location.query.decode()}")).status_code == 303


async def _topup(
    client: httpx.AsyncClient, who: Actor, amount: str, currency: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/wallet/topups",
        json={"amount": {"amount": amount, "currency": currency}, "gateway": "zarinpal"},
        headers=who.headers,
    )


async def test_zarinpal_takes_only_rials_and_tomans_and_charges_what_is_credited(
    client: httpx.AsyncClient, zarinpal: FakeZarinpal, buyer: Actor
) -> None:
    refused = await _topup(client, buyer, "12.75", "USD")
    assert refused.status_code == 422
    assert refused.json()["errors"][0] == {
        "field": "body.amount",
        "code": "gateway_currency_unsupported",
        "message": "This payment gateway does not take this currency.",
    }
    assert zarinpal.request_calls == 0 and await PaymentSession.all().count() == 0
    too_small = await _topup(client, buyer, "99", "IRT")
    assert too_small.status_code == 422
    assert too_small.json()["errors"][0]["code"] == "amount_below_gateway_minimum"

    started = await _topup(client, buyer, "125000", "IRT")
    assert started.status_code == 201, started.text
    await _pay_at_zarinpal(client, started.json()["redirect_url"])
    [charged] = [p["amount"] for p in zarinpal.payments.values()]
    user_id = (await PaymentSession.get(id=started.json()["id"])).user_id
    assert charged == 125000
    assert (await balance(user_id, "IRT")).amount == Decimal(charged)
    assert await ledger_is_balanced()


async def test_a_new_top_up_amount_gets_its_own_session(
    client: httpx.AsyncClient, zarinpal: FakeZarinpal, buyer: Actor
) -> None:
    first = (await _topup(client, buyer, "50000", "IRT")).json()
    second = (await _topup(client, buyer, "80000", "IRT")).json()
    assert second["id"] != first["id"]
    assert second["amount"] == {"amount": "80000", "currency": "IRT"}
    assert second["redirect_url"] != first["redirect_url"]
    await _pay_at_zarinpal(client, second["redirect_url"])
    user_id = (await PaymentSession.get(id=second["id"])).user_id
    assert (await balance(user_id, "IRT")).amount == Decimal(80000)


async def test_refunds_keep_the_currency_precision(
    client: httpx.AsyncClient, zarinpal: FakeZarinpal, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market, _, order = await placed_order(client, owner, staff, buyer, "refund-irt")
    session = await client.post(
        "/api/v1/payments",
        json={"target": "order", "target_id": order["id"], "gateway": "zarinpal"},
        headers=buyer.headers,
    )
    await _pay_at_zarinpal(client, session.json()["redirect_url"])
    url = f"/api/v1/markets/{market['id']}/orders/{order['id']}/refund"
    for amount, code in (("0.4", "too_many_decimals"), ("0.01", "too_many_decimals")):
        refused = await client.post(url, json={"amount": amount}, headers=owner.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["code"] in (code, "invalid_amount")
    zero = await client.post(url, json={"amount": "0"}, headers=owner.headers)
    assert zero.status_code == 422
    assert zarinpal.refund_calls == 0 and await Refund.all().count() == 0
    assert (await Order.get(id=order["id"])).refunded_amount == 0
    part = await client.post(url, json={"amount": "100000"}, headers=owner.headers)
    assert part.status_code == 200, part.text
    [payment] = zarinpal.payments.values()
    assert payment["refunded"] == 100000
    assert (await Order.get(id=order["id"])).refunded_amount == Decimal(100000)


async def test_a_fully_discounted_online_order_is_paid_without_a_gateway(
    client: httpx.AsyncClient, zarinpal: FakeZarinpal, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "free-shop")
    product = await published_product(client, owner, staff, market["id"], price="1000", stock=3)
    code = await client.post(
        f"/api/v1/markets/{market['id']}/discounts",
        json={"kind": "percentage", "value": "100"},
        headers=owner.headers,
    )
    assert code.status_code == 201, code.text
    await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
    )
    order = await client.post(
        "/api/v1/checkout",
        json={
            "market_id": market["id"],
            "discount_code": code.json()["code"],
            "payment_method": "online",
        },
        headers=buyer.headers,
    )
    assert order.json()["total"] == {"amount": "0", "currency": "IRT"}
    session = await client.post(
        "/api/v1/payments",
        json={"target": "order", "target_id": order.json()["id"], "gateway": "zarinpal"},
        headers=buyer.headers,
    )
    assert session.status_code == 201, session.text
    assert session.json()["status"] == "succeeded" and session.json()["redirect_url"] == ""
    assert (await Order.get(id=order.json()["id"])).status.value == "paid"
    assert zarinpal.request_calls == 0
    assert await ledger_is_balanced()


async def test_moving_to_a_dearer_category_leaves_the_difference_due(
    client: httpx.AsyncClient, zarinpal: FakeZarinpal, owner: Actor
) -> None:
    cheap, dear = await leaf_id("books-used"), await leaf_id("books-new")  # 300,000 / 500,000
    created = await client.post(
        "/api/v1/markets",
        json={
            "type": "shop",
            "business_id": "move-shop",
            "name": "Move shop",
            "category_id": cheap,
            **PROFILE,
        },
        headers=owner.headers,
    )
    market_id = created.json()["id"]
    paid = await client.post(
        "/api/v1/payments",
        json={"target": "subscription", "target_id": market_id, "gateway": "zarinpal"},
        headers=owner.headers,
    )
    assert paid.json()["amount"] == {"amount": "300000", "currency": "IRT"}
    await _pay_at_zarinpal(client, paid.json()["redirect_url"])
    moved = await client.patch(
        f"/api/v1/markets/{market_id}", json={"category_id": dear}, headers=owner.headers
    )
    assert moved.status_code == 200, moved.text
    submit = await client.post(f"/api/v1/markets/{market_id}/submit", headers=owner.headers)
    assert submit.status_code == 409 and submit.json()["code"] == "subscription_fee_unpaid"
    difference = await client.post(
        "/api/v1/payments",
        json={"target": "subscription", "target_id": market_id, "gateway": "zarinpal"},
        headers=owner.headers,
    )
    assert difference.json()["amount"] == {"amount": "200000", "currency": "IRT"}
    await _pay_at_zarinpal(client, difference.json()["redirect_url"])
    market = await Market.get(id=market_id)
    assert (market.fee_paid_amount, market.fee_paid_currency) == (Decimal(500000), "IRT")
    assert (
        await client.post(f"/api/v1/markets/{market_id}/submit", headers=owner.headers)
    ).status_code == 200


async def test_paying_from_the_wallet_is_a_state_machine_transition(
    client: httpx.AsyncClient,
    zarinpal: FakeZarinpal,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from asoud.orders import services as order_services

    market, _, order = await placed_order(client, owner, staff, buyer, "wallet-sm", price="1000")
    topped = await _topup(client, buyer, "5000", "IRT")
    await _pay_at_zarinpal(client, topped.json()["redirect_url"])
    actions: list[tuple[str, str]] = []
    real_next_state = order_services.next_state

    def spy(order: Order, action: str) -> Any:
        actions.append((order.status.value, action))
        return real_next_state(order, action)

    monkeypatch.setattr(order_services, "next_state", spy)
    paid = await client.post(
        f"/api/v1/orders/{order['id']}/pay-with-wallet",
        headers=buyer.headers | {"Idempotency-Key": "w2"},
    )
    assert paid.status_code == 200, paid.text
    assert (await Order.get(id=order["id"])).status.value == "paid"
    assert actions == [("pending", "pay_from_wallet")]  # the named transition, nothing else
    again = await client.post(
        f"/api/v1/orders/{order['id']}/pay-with-wallet",
        headers=buyer.headers | {"Idempotency-Key": "w3"},
    )
    assert again.status_code == 409 and again.json()["current_status"] == "paid"
    assert await ledger_is_balanced() and market


async def test_fee_paid_before_the_amount_was_kept_counts(
    client: httpx.AsyncClient, owner: Actor, staff: Actor
) -> None:
    """The helper other tests use pays exactly what is due, through the same function."""
    market = await published_market(client, owner, staff, "helper-fee")
    stored = await Market.get(id=market["id"])
    assert stored.fee_paid_amount == Decimal(500000) and stored.fee_paid_at is not None
    await pay_fee(market["id"])  # nothing due: adds nothing
    assert (await Market.get(id=market["id"])).fee_paid_amount == Decimal(500000)
