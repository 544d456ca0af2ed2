"""PayPal Orders v2 through the production adapter, against a fake of PayPal's API on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from asoud.orders.models import Order
from tests.support.fake_gateways import FakePayPal
from tests.support.market import GENEROUS_LIMITS, Actor, placed_order
from tests.support.servers import serve


@pytest.fixture
def paypal() -> Iterator[tuple[FakePayPal, str]]:
    fake = FakePayPal()
    holder: dict[str, str] = {}
    with serve(fake.app(holder)) as url:
        holder["url"] = url
        yield fake, url


@pytest.fixture
def settings_overrides(paypal: tuple[FakePayPal, str]) -> dict[str, Any]:
    fake, url = paypal
    return {
        **GENEROUS_LIMITS,
        "public_base_url": "http://testserver",
        "payment_gateways": "paypal",
        "paypal_api_url": url,
        "paypal_client_id": fake.client_id,
        "paypal_client_secret": fake.client_secret,
    }


async def _pay(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, name: str, *, approve: bool
) -> tuple[dict[str, Any], dict[str, Any], str]:
    market, _, order = await placed_order(
        client, owner, staff, buyer, name, currency="EUR", price="25.50", stock=3
    )
    session = (
        await client.post(
            "/api/v1/payments",
            json={"target": "order", "target_id": order["id"], "gateway": "paypal"},
            headers=buyer.headers,
        )
    ).json()
    async with httpx.AsyncClient() as browser:
        back = await browser.get(session["redirect_url"] + f"&approve={int(approve)}")
    parts = urlsplit(back.headers["location"])
    assert parts.path == "/api/v1/payments/callback/paypal"
    return market, order, f"{parts.path}?{parts.query}"


async def test_paypal_order_approved_and_captured_once(
    client: httpx.AsyncClient,
    paypal: tuple[FakePayPal, str],
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    fake, _ = paypal
    market, order, callback = await _pay(client, owner, staff, buyer, "eur-shop", approve=True)
    first = await client.get(callback)
    again = await client.get(callback)
    assert first.headers["location"].endswith("status=succeeded") and again.status_code == 303
    assert fake.captures == 1
    assert (await Order.get(id=order["id"])).status.value == "paid"
    sent = next(iter(fake.orders.values()))["purchase_units"][0]["amount"]
    assert sent == {"currency_code": "EUR", "value": "51.00"}
    refund = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{order['id']}/refund",
        json={"amount": "20.00"},
        headers=owner.headers,
    )
    assert refund.json()["refunded"] == {"amount": "20.00", "currency": "EUR"}
    assert fake.refunds[0]["amount"] == {"value": "20.00", "currency_code": "EUR"}
    assert fake.refunds[0]["capture_id"].startswith("CAP")
    # create, capture and refund: one OAuth token, held by the process's PayPal client
    assert fake.tokens_issued == 1


async def test_declined_capture_and_cancelled_approval_fail_the_payment(
    client: httpx.AsyncClient,
    paypal: tuple[FakePayPal, str],
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    fake, _ = paypal
    fake.decline_captures = True  # the order says COMPLETED, the capture says DECLINED
    _, order, callback = await _pay(client, owner, staff, buyer, "eur-shop-2", approve=True)
    assert (await client.get(callback)).headers["location"].endswith("status=failed")
    assert (await Order.get(id=order["id"])).status.value == "failed"

    fake.decline_captures = False
    _, other, cancel = await _pay(client, owner, staff, buyer, "eur-shop-3", approve=False)
    assert (await client.get(cancel)).headers["location"].endswith("status=cancelled")
    assert (await Order.get(id=other["id"])).status.value == "failed"
    assert fake.captures == 1  # the cancelled one was never captured
