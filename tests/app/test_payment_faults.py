"""Payments under faults, injected for real: a gateway that hangs, one that cannot decide,
a start cut short, a browser that says "cancelled" about a paid payment (issue 11)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from asoud.catalog.models import Product
from asoud.orders.models import Order, OrderStatus
from asoud.payments.models import PaymentSession, SessionStatus, Target
from asoud.payments.services import reconcile
from asoud.runtime import Platform
from asoud.wallet.services import balance, ledger_is_balanced
from tests.support.fake_gateways import FakeZarinpal
from tests.support.market import GENEROUS_LIMITS, Actor, placed_order
from tests.support.servers import serve


@pytest.fixture
def zarinpal() -> Iterator[FakeZarinpal]:
    fake = FakeZarinpal()
    with serve(fake.app()) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake
        if fake.hang is not None:
            fake.hang.set()


@pytest.fixture
def settings_overrides(zarinpal: FakeZarinpal) -> dict[str, Any]:
    url = zarinpal.url  # type: ignore[attr-defined]
    return {
        **GENEROUS_LIMITS,
        "public_base_url": "http://testserver",
        "zarinpal_api_url": url,
        "zarinpal_startpay_url": f"{url}/pg/StartPay/",
        "zarinpal_merchant_id": zarinpal.merchant_id,
        "gateway_timeout_seconds": 1.0,
    }


async def _order(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, name: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    return await placed_order(client, owner, staff, buyer, name, stock=5, quantity=2)


async def _pay_order(client: httpx.AsyncClient, buyer: Actor, order_id: str) -> httpx.Response:
    return await client.post(
        "/api/v1/payments",
        json={"target": "order", "target_id": order_id, "gateway": "zarinpal"},
        headers=buyer.headers,
    )


async def _at_gateway(redirect_url: str, *, pay: bool) -> str:
    """The buyer at Zarinpal: pays (or not); returns our callback path Zarinpal sends back to."""
    async with httpx.AsyncClient() as browser:
        back = await browser.get(redirect_url, params={"pay": "1" if pay else "0"})
    location = httpx.URL(back.headers["location"])
    return f"{location.path}?{location.query.decode()}"


async def _held(product_id: str) -> int:
    return (await Product.get(id=product_id)).reserved


async def test_a_hanging_gateway_is_cut_off_at_the_timeout(
    client: httpx.AsyncClient, zarinpal: FakeZarinpal, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    _, product, order = await _order(client, owner, staff, buyer, "hang-start")
    zarinpal.hang = asyncio.Event()  # Zarinpal accepts the request and never answers
    started = await _pay_order(client, buyer, order["id"])
    # The API answered while Zarinpal was still holding the call: the deadline cut it off.
    assert zarinpal.waiting == 1
    assert started.status_code == 503 and started.headers["retry-after"] == "5"
    assert started.json()["code"] == "payment_gateway_unavailable"
    assert (await Order.get(id=order["id"])).status is OrderStatus.pending  # payable again
    assert await _held(product["id"]) == 2
    zarinpal.hang.set()
    zarinpal.hang = None
    again = await _pay_order(client, buyer, order["id"])
    assert again.status_code == 201 and again.json()["redirect_url"]


async def test_no_transaction_waits_on_a_refunding_gateway(
    client: httpx.AsyncClient,
    zarinpal: FakeZarinpal,
    settings: Any,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    market, _, order = await _order(client, owner, staff, buyer, "hang-refund")
    session = await _pay_order(client, buyer, order["id"])
    await client.get(await _at_gateway(session.json()["redirect_url"], pay=True))
    zarinpal.hang = asyncio.Event()
    refund = asyncio.create_task(
        client.post(
            f"/api/v1/markets/{market['id']}/orders/{order['id']}/refund",
            json={"amount": "100000"},
            headers=owner.headers | {"Idempotency-Key": "refund-1"},
        )
    )
    for _ in range(200):
        if zarinpal.waiting:
            break
        await asyncio.sleep(0.01)
    assert zarinpal.waiting == 1  # the refund is at the gateway right now
    conn = await asyncpg.connect(settings.database_url)
    try:
        idle_in_transaction = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%'"
        )
    finally:
        await conn.close()
    assert idle_in_transaction == 0
    # Meanwhile the refund is recorded and counted: a second one cannot exceed what is left.
    assert (await Order.get(id=order["id"])).refunded_amount == 100000
    done = await refund
    assert done.status_code == 503  # cut off at the 1 s deadline, outcome unknown
    assert (await Order.get(id=order["id"])).refunded_amount == 100000  # still counted
    zarinpal.hang.set()  # ... and Zarinpal did refund it, late
    zarinpal.hang = None
    # Zarinpal has no refund key: asking again could refund twice, so the retry says so.
    retry = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{order['id']}/refund",
        json={"amount": "100000"},
        headers=owner.headers | {"Idempotency-Key": "refund-1"},
    )
    assert retry.status_code == 409 and retry.json()["code"] == "refund_in_doubt"
    assert zarinpal.refund_calls == 1
    [payment] = zarinpal.payments.values()
    assert payment["refunded"] == 100000  # once, not twice


@pytest.mark.parametrize("code", [-12, -52, -9])
async def test_zarinpal_answers_that_decide_nothing_leave_the_payment_open(
    client: httpx.AsyncClient,
    zarinpal: FakeZarinpal,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
    code: int,
) -> None:
    _, product, order = await _order(client, owner, staff, buyer, f"undecided{-code}")
    session = await _pay_order(client, buyer, order["id"])
    callback = await _at_gateway(session.json()["redirect_url"], pay=True)
    zarinpal.verify_error = code
    await client.get(callback)
    stored = await PaymentSession.get(id=session.json()["id"])
    assert stored.status is SessionStatus.pending
    assert (await Order.get(id=order["id"])).status is OrderStatus.processing
    assert await _held(product["id"]) == 2
    zarinpal.verify_error = None  # Zarinpal recovers: the next return settles it
    await client.get(callback)
    assert (await Order.get(id=order["id"])).status is OrderStatus.paid


async def test_a_cancelled_return_is_verified_and_a_paid_payment_counts(
    client: httpx.AsyncClient, zarinpal: FakeZarinpal, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    _, _, order = await _order(client, owner, staff, buyer, "nok-paid")
    session = await _pay_order(client, buyer, order["id"])
    callback = await _at_gateway(session.json()["redirect_url"], pay=True)
    lying = callback.replace("Status=OK", "Status=NOK")  # the browser says cancelled
    back = await client.get(lying)
    assert back.headers["location"].endswith("status=succeeded")
    assert (await Order.get(id=order["id"])).status is OrderStatus.paid
    assert zarinpal.verify_calls == 1


async def test_a_start_cut_short_is_finished_by_the_retry(
    client: httpx.AsyncClient, zarinpal: FakeZarinpal, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    """What the API leaves when it dies between recording the session and hearing back from
    the gateway: an open session with no authority, the order in processing."""
    _, _, order = await _order(client, owner, staff, buyer, "cut-short")
    stored = await Order.get(id=order["id"])
    await Order.filter(id=stored.id).update(status=OrderStatus.processing)
    cut = await PaymentSession.create(
        user_id=stored.user_id,
        target=Target.order,
        target_id=str(stored.id),
        gateway="zarinpal",
        amount=stored.total,
        currency=stored.currency,
    )
    retry = await _pay_order(client, buyer, order["id"])
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == str(cut.id) and retry.json()["redirect_url"]
    callback = await _at_gateway(retry.json()["redirect_url"], pay=True)
    await client.get(callback)
    assert (await Order.get(id=order["id"])).status is OrderStatus.paid


async def test_reconciling_a_session_that_never_started_lets_the_buyer_pay_again(
    client: httpx.AsyncClient,
    platform: Platform,
    zarinpal: FakeZarinpal,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    _, _, order = await _order(client, owner, staff, buyer, "never-started")
    stored = await Order.get(id=order["id"])
    await Order.filter(id=stored.id).update(status=OrderStatus.processing)
    cut = await PaymentSession.create(
        user_id=stored.user_id,
        target=Target.order,
        target_id=str(stored.id),
        gateway="zarinpal",
        amount=stored.total,
        currency=stored.currency,
    )
    await PaymentSession.filter(id=cut.id).update(created_at=datetime.now(UTC) - timedelta(hours=2))
    await reconcile(platform)
    assert (await PaymentSession.get(id=cut.id)).status is SessionStatus.failed
    assert (await Order.get(id=order["id"])).status is OrderStatus.pending
    again = await _pay_order(client, buyer, order["id"])
    assert again.status_code == 201 and again.json()["id"] != str(cut.id)


async def test_a_buyer_cancels_a_hanging_payment_and_a_late_success_goes_to_the_wallet(
    client: httpx.AsyncClient, zarinpal: FakeZarinpal, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    _, product, order = await _order(client, owner, staff, buyer, "cancel-processing")
    session = await _pay_order(client, buyer, order["id"])
    cancelled = await client.post(f"/api/v1/orders/{order['id']}/cancel", headers=buyer.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert await _held(product["id"]) == 0
    # ... but the buyer had paid at Zarinpal after all
    await client.get(await _at_gateway(session.json()["redirect_url"], pay=True))
    stored = await PaymentSession.get(id=session.json()["id"])
    assert stored.status is SessionStatus.succeeded
    assert (await balance(stored.user_id, "IRT")).amount == stored.amount
    assert await ledger_is_balanced()


async def test_after_a_failed_payment_the_order_goes_back_to_the_cart(
    client: httpx.AsyncClient, zarinpal: FakeZarinpal, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market, product, order = await _order(client, owner, staff, buyer, "back-to-cart")
    session = await _pay_order(client, buyer, order["id"])
    await client.get(await _at_gateway(session.json()["redirect_url"], pay=False))
    assert (await Order.get(id=order["id"])).status is OrderStatus.failed
    restored = await client.post(f"/api/v1/orders/{order['id']}/cart", headers=buyer.headers)
    assert restored.status_code == 200, restored.text
    cart = restored.json()["cart"]
    assert [(line["product_id"], line["quantity"]) for line in cart["items"]] == [
        (product["id"], 2)
    ] and restored.json()["not_restored"] == []
    again = await client.post(
        "/api/v1/checkout",
        json={"market_id": market["id"], "payment_method": "online"},
        headers=buyer.headers,
    )
    assert again.status_code == 201 and again.json()["id"] != order["id"]
    paid = await _pay_order(client, buyer, again.json()["id"])
    assert paid.status_code == 201 and paid.json()["redirect_url"]
    # an order that did not fail stays where it is
    refused = await client.post(f"/api/v1/orders/{again.json()['id']}/cart", headers=buyer.headers)
    assert refused.status_code == 409
