"""Stripe PaymentIntents with signed webhooks, and refunds (full and partial), against fakes of
Stripe's and Zarinpal's HTTP APIs on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from asoud.catalog.models import Product
from asoud.orders.models import Order
from asoud.payments.gateways.stripe import SignatureError, verify_signature
from asoud.wallet.services import ledger_is_balanced
from tests.support.fake_gateways import FakeStripe, FakeZarinpal
from tests.support.market import (
    GENEROUS_LIMITS,
    Actor,
    placed_order,
    published_market,
    published_product,
)
from tests.support.servers import serve


@pytest.fixture
def stripe() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe()
    with serve(fake.app()) as url:
        yield fake, url


@pytest.fixture
def zarinpal() -> Iterator[tuple[FakeZarinpal, str]]:
    fake = FakeZarinpal()
    with serve(fake.app()) as url:
        yield fake, url


@pytest.fixture
def settings_overrides(
    stripe: tuple[FakeStripe, str], zarinpal: tuple[FakeZarinpal, str]
) -> dict[str, Any]:
    (fake_stripe, stripe_url), (fake_zp, zp_url) = stripe, zarinpal
    return {
        **GENEROUS_LIMITS,
        "public_base_url": "http://testserver",
        "payment_gateways": "zarinpal,stripe",
        "stripe_api_url": stripe_url,
        "stripe_secret_key": fake_stripe.secret_key,
        "stripe_webhook_secret": fake_stripe.webhook_secret,
        "zarinpal_api_url": zp_url,
        "zarinpal_startpay_url": f"{zp_url}/pg/StartPay/",
        "zarinpal_merchant_id": fake_zp.merchant_id,
    }


def test_signature_checks() -> None:
    payload, secret = b'{"a":1}', "whsec_x"
    import hashlib
    import hmac

    now = 1_800_000_000
    good = hmac.new(secret.encode(), f"{now}.".encode() + payload, hashlib.sha256).hexdigest()
    verify_signature(payload, f"t={now},v1=bad,v1={good}", secret, 300, now=now + 299)
    for header, at in [
        (f"t={now},v1={good}", now + 301),
        (f"t={now},v1={'0' * 64}", now),
        (f"v1={good}", now),
        ("", now),
        (f"t={now},v1={good}", now - 301),
    ]:
        with pytest.raises(SignatureError):
            verify_signature(payload, header, secret, 300, now=at)


async def _usd_order(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    market, _, order = await placed_order(
        client, owner, staff, buyer, name, currency="USD", price="19.99"
    )
    return market, order


async def _webhook(
    client: httpx.AsyncClient, fake: FakeStripe, event: str, intent_id: str, **kwargs: Any
) -> httpx.Response:
    body, signature = fake.signed_event(event, intent_id, **kwargs)
    return await client.post(
        "/api/v1/payments/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


async def test_stripe_webhook_before_the_client_returns(
    client: httpx.AsyncClient,
    stripe: tuple[FakeStripe, str],
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    fake, _ = stripe
    market, order = await _usd_order(client, owner, staff, buyer, "usd-shop")
    started = await client.post(
        "/api/v1/payments",
        json={"target": "order", "target_id": order["id"], "gateway": "stripe"},
        headers=buyer.headers,
    )
    assert started.status_code == 201, started.text
    session = started.json()
    assert session["client_secret"].startswith("pi_") and session["redirect_url"] == ""
    intent_id = next(iter(fake.intents))
    assert (
        fake.intents[intent_id]["amount"] == 3998 and fake.intents[intent_id]["currency"] == "usd"
    )  # cents

    fake.confirm(intent_id, succeed=True)
    first = await _webhook(client, fake, "payment_intent.succeeded", intent_id)
    duplicate = await _webhook(client, fake, "payment_intent.succeeded", intent_id)
    assert first.status_code == duplicate.status_code == 200
    # the client comes back afterwards and asks: already settled, once
    status = await client.get(f"/api/v1/payments/{session['id']}", headers=buyer.headers)
    assert status.json()["status"] == "succeeded"
    assert (await Order.get(id=order["id"])).status.value == "paid"
    product = await Product.filter(market_id=market["id"]).first()
    assert product is not None and (product.stock, product.reserved) == (3, 0)
    assert await ledger_is_balanced()


async def test_forged_stale_and_lying_webhooks_change_nothing(
    client: httpx.AsyncClient,
    stripe: tuple[FakeStripe, str],
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    fake, _ = stripe
    _, order = await _usd_order(client, owner, staff, buyer, "usd-shop-2")
    await client.post(
        "/api/v1/payments",
        json={"target": "order", "target_id": order["id"], "gateway": "stripe"},
        headers=buyer.headers,
    )
    intent_id = next(iter(fake.intents))
    forged = await _webhook(
        client, fake, "payment_intent.succeeded", intent_id, secret="whsec_attacker"
    )
    stale = await _webhook(
        client, fake, "payment_intent.succeeded", intent_id, timestamp=int(time.time()) - 301
    )
    assert forged.status_code == stale.status_code == 400
    assert forged.json()["code"] == "webhook_signature_invalid"
    # correctly signed but claims success while Stripe says otherwise: we read Stripe, not the event
    lying = await _webhook(client, fake, "payment_intent.succeeded", intent_id)
    assert lying.status_code == 200
    assert (await Order.get(id=order["id"])).status.value == "processing"
    fake.confirm(intent_id, succeed=False)
    await _webhook(client, fake, "payment_intent.payment_failed", intent_id)
    assert (await Order.get(id=order["id"])).status.value == "failed"


async def test_partial_then_full_refund_through_stripe(
    client: httpx.AsyncClient,
    stripe: tuple[FakeStripe, str],
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    fake, _ = stripe
    market, order = await _usd_order(client, owner, staff, buyer, "usd-shop-3")
    await client.post(
        "/api/v1/payments",
        json={"target": "order", "target_id": order["id"], "gateway": "stripe"},
        headers=buyer.headers,
    )
    intent_id = next(iter(fake.intents))
    fake.confirm(intent_id, succeed=True)
    await _webhook(client, fake, "payment_intent.succeeded", intent_id)
    url = f"/api/v1/markets/{market['id']}/orders/{order['id']}/refund"
    partial = await client.post(
        url, json={"amount": "10.00"}, headers=owner.headers | {"Idempotency-Key": "r1"}
    )
    assert partial.status_code == 200, partial.text
    assert partial.json()["status"] == "paid" and partial.json()["refunded"] == {
        "amount": "10.00",
        "currency": "USD",
    }
    replay = await client.post(
        url, json={"amount": "10.00"}, headers=owner.headers | {"Idempotency-Key": "r1"}
    )
    assert replay.json() == partial.json() and len(fake.refunds) == 1
    too_much = await client.post(url, json={"amount": "30.00"}, headers=owner.headers)
    assert too_much.status_code == 422
    assert (
        await client.post(url, json={}, headers=buyer.headers)
    ).status_code == 404  # not the buyer's to do
    rest = await client.post(url, json={}, headers=owner.headers)
    assert rest.json()["status"] == "refunded" and rest.json()["refunded"]["amount"] == "39.98"
    assert [r["amount"] for r in fake.refunds] == [1000, 2998]
    assert (await client.post(url, json={}, headers=owner.headers)).status_code == 409


async def test_refund_through_zarinpal_and_to_the_wallet(
    client: httpx.AsyncClient,
    zarinpal: tuple[FakeZarinpal, str],
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    from urllib.parse import urlsplit

    fake, _ = zarinpal
    market = await published_market(client, owner, staff, "irt-shop")
    product = await published_product(client, owner, staff, market["id"], price="300000", stock=5)
    await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
    )
    order = (
        await client.post(
            "/api/v1/checkout",
            json={"market_id": market["id"], "payment_method": "online"},
            headers=buyer.headers,
        )
    ).json()
    session = (
        await client.post(
            "/api/v1/payments",
            json={"target": "order", "target_id": order["id"], "gateway": "zarinpal"},
            headers=buyer.headers,
        )
    ).json()
    async with httpx.AsyncClient() as browser:
        back = await browser.get(session["redirect_url"], params={"pay": "1"})
    location = urlsplit(back.headers["location"])
    await client.get(f"{location.path}?{location.query}")
    url = f"/api/v1/markets/{market['id']}/orders/{order['id']}/refund"
    refunded = await client.post(url, json={"amount": "100000"}, headers=owner.headers)
    assert refunded.json()["refunded"]["amount"] == "100000"
    assert next(iter(fake.payments.values()))["refunded"] == 100000

    # an order paid from the wallet is refunded into the wallet
    from asoud.identity.models import User
    from asoud.wallet.services import credit_topup
    from tests.support.login import e164

    user = await User.get(phone=e164(buyer.phone))
    await credit_topup(user.id, __import__("decimal").Decimal(300000), "IRT", reference="seed")
    await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
    )
    second = (
        await client.post(
            "/api/v1/checkout",
            json={"market_id": market["id"], "payment_method": "online"},
            headers=buyer.headers,
        )
    ).json()
    await client.post(f"/api/v1/orders/{second['id']}/pay-with-wallet", headers=buyer.headers)
    back_to_wallet = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{second['id']}/refund",
        json={},
        headers=owner.headers,
    )
    assert back_to_wallet.json()["status"] == "refunded"
    balances = (await client.get("/api/v1/wallet", headers=buyer.headers)).json()["balances"]
    assert balances == [{"amount": "300000", "currency": "IRT"}]
    assert await ledger_is_balanced()
