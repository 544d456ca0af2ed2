"""Crypto invoices confirmed by a signed processor webhook, against a fake processor API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from asoud.orders.models import Order
from tests.support.fake_gateways import FakeCryptoProcessor
from tests.support.market import GENEROUS_LIMITS, Actor, placed_order
from tests.support.servers import serve


@pytest.fixture
def processor() -> Iterator[tuple[FakeCryptoProcessor, str]]:
    fake = FakeCryptoProcessor()
    with serve(fake.app()) as url:
        yield fake, url


@pytest.fixture
def settings_overrides(processor: tuple[FakeCryptoProcessor, str]) -> dict[str, Any]:
    fake, url = processor
    return {
        **GENEROUS_LIMITS,
        "payment_gateways": "crypto",
        "crypto_api_url": url,
        "crypto_api_key": fake.api_key,
        "crypto_webhook_secret": fake.webhook_secret,
    }


async def _invoice(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor, name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    _, _, order = await placed_order(
        client, owner, staff, buyer, name, currency="USD", price="99.00", stock=2, quantity=1
    )
    session = (
        await client.post(
            "/api/v1/payments",
            json={"target": "order", "target_id": order["id"], "gateway": "crypto"},
            headers=buyer.headers,
        )
    ).json()
    return order, session


async def _hook(
    client: httpx.AsyncClient, fake: FakeCryptoProcessor, invoice_id: str, **kw: Any
) -> httpx.Response:
    body, signature = fake.signed_event(invoice_id, **kw)
    return await client.post(
        "/api/v1/payments/webhooks/crypto",
        content=body,
        headers={"X-Signature": signature, "Content-Type": "application/json"},
    )


async def test_invoice_confirmed_by_webhook_once(
    client: httpx.AsyncClient,
    processor: tuple[FakeCryptoProcessor, str],
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    fake, _ = processor
    order, session = await _invoice(client, owner, staff, buyer, "btc-shop")
    invoice_id = next(iter(fake.invoices))
    assert session["redirect_url"] == f"https://pay.example/invoice/{invoice_id}"
    assert fake.invoices[invoice_id]["amount"] == "99.00"
    fake.set_status(invoice_id, "confirming")
    assert (await _hook(client, fake, invoice_id)).status_code == 200
    assert (await Order.get(id=order["id"])).status.value == "processing"  # not yet final
    fake.set_status(invoice_id, "confirmed")
    assert (await _hook(client, fake, invoice_id)).status_code == 200
    assert (await _hook(client, fake, invoice_id)).status_code == 200  # duplicate
    assert (await Order.get(id=order["id"])).status.value == "paid"
    forged = await _hook(client, fake, invoice_id, secret="guess")
    assert forged.status_code == 400 and forged.json()["code"] == "webhook_signature_invalid"


async def test_expired_invoice_fails_the_payment(
    client: httpx.AsyncClient,
    processor: tuple[FakeCryptoProcessor, str],
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    fake, _ = processor
    order, _ = await _invoice(client, owner, staff, buyer, "btc-shop-2")
    invoice_id = next(iter(fake.invoices))
    fake.set_status(invoice_id, "expired")
    await _hook(client, fake, invoice_id)
    assert (await Order.get(id=order["id"])).status.value == "failed"
