"""The wallet over HTTP and under concurrency: transfers, paying orders, the ledger invariants."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from asoud.catalog.models import Product
from asoud.identity.models import User
from asoud.orders.models import Order
from asoud.runtime import Platform
from asoud.wallet.models import Entry, Transaction
from asoud.wallet.services import credit_topup, ledger_is_balanced
from tests.support.login import e164
from tests.support.market import GENEROUS_LIMITS, Actor, actor, published_market, published_product


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**GENEROUS_LIMITS, "database_pool_max": 30}


async def _fund(who: Actor, amount: str, currency: str = "IRT") -> None:
    user = await User.get(phone=e164(who.phone))
    await credit_topup(user.id, Decimal(amount), currency, reference=f"test-{uuid.uuid4()}")


async def _balance(client: httpx.AsyncClient, who: Actor, currency: str = "IRT") -> str:
    balances = (await client.get("/api/v1/wallet", headers=who.headers)).json()["balances"]
    return next((b["amount"] for b in balances if b["currency"] == currency), "0")


def _irt(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "IRT"}


async def test_transfer_moves_money_once_and_shows_in_both_ledgers(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, buyer: Actor
) -> None:
    await _fund(buyer, "500000")
    key = {"Idempotency-Key": "transfer-1"}
    sent = await client.post(
        "/api/v1/wallet/transfers",
        json={"to_phone": owner.phone, "amount": _irt("200000")},
        headers=buyer.headers | key,
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["balance"] == _irt("300000")
    replay = await client.post(
        "/api/v1/wallet/transfers",
        json={"to_phone": owner.phone, "amount": _irt("200000")},
        headers=buyer.headers | key,
    )
    assert replay.json() == sent.json() and replay.headers["Idempotent-Replayed"] == "true"
    # even if the Redis record is gone, the ledger's dedupe key keeps it to one movement
    async for slot in platform.redis.scan_iter(match=platform.keys("idem", "*")):
        await platform.redis.delete(slot)
    again = await client.post(
        "/api/v1/wallet/transfers",
        json={"to_phone": owner.phone, "amount": _irt("200000")},
        headers=buyer.headers | key,
    )
    assert again.json()["transaction_id"] == sent.json()["transaction_id"]
    assert await _balance(client, buyer) == "300000" and await _balance(client, owner) == "200000"
    mine = (await client.get("/api/v1/wallet/transactions", headers=buyer.headers)).json()["items"]
    assert [(line["kind"], line["amount"]["amount"]) for line in mine] == [
        ("transfer", "-200000"),
        ("topup", "500000"),
    ]
    theirs = (await client.get("/api/v1/wallet/transactions", headers=owner.headers)).json()[
        "items"
    ]
    assert [(line["kind"], line["amount"]["amount"]) for line in theirs] == [("transfer", "200000")]
    assert await ledger_is_balanced()


async def test_insufficient_balance_is_refused_and_nothing_changes(
    client: httpx.AsyncClient, owner: Actor, buyer: Actor
) -> None:
    await _fund(buyer, "1000")
    refused = await client.post(
        "/api/v1/wallet/transfers",
        json={"to_phone": owner.phone, "amount": _irt("1001")},
        headers=buyer.headers | {"Accept-Language": "ar"},
    )
    assert refused.status_code == 409 and refused.json()["code"] == "insufficient_funds"
    assert refused.json()["title"] == "الرصيد غير كافٍ"
    assert await _balance(client, buyer) == "1000" and await _balance(client, owner) == "0"
    assert await Transaction.all().count() == 1  # the top-up only


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"to_phone": "09121000001", "amount": {"amount": "10.5", "currency": "IRT"}},
            422,
            "too_many_decimals",
        ),
        (
            {"to_phone": "09121000001", "amount": {"amount": "0", "currency": "IRT"}},
            422,
            "invalid_amount",
        ),
        (
            {"to_phone": "09121000001", "amount": {"amount": "10", "currency": "XXX"}},
            422,
            "unsupported_currency",
        ),
        (
            {"to_phone": "09129999999", "amount": {"amount": "10", "currency": "IRT"}},
            404,
            "recipient_not_found",
        ),
        (
            {"to_phone": "09121000003", "amount": {"amount": "10", "currency": "IRT"}},
            422,
            "self_transfer",
        ),
    ],
)
async def test_bad_transfers(
    client: httpx.AsyncClient,
    owner: Actor,
    buyer: Actor,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    await _fund(buyer, "1000")
    response = await client.post("/api/v1/wallet/transfers", json=body, headers=buyer.headers)
    assert response.status_code == status, response.text
    problem = response.json()
    assert (
        problem.get("errors", [{}])[0].get("code", problem["code"]) == code
        or problem["code"] == code
    )
    assert await _balance(client, buyer) == "1000"


async def test_fifty_concurrent_transfers_never_overdraw(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, buyer: Actor
) -> None:
    third = await actor(client, platform, "09121000004")
    await _fund(buyer, "100000")
    await _fund(owner, "30000")
    # 50 transfers of 10,000 in both directions and to a third person, all at once
    moves = []
    for n in range(50):
        sender, receiver = [(buyer, owner), (owner, buyer), (buyer, third)][n % 3]
        moves.append(
            client.post(
                "/api/v1/wallet/transfers",
                json={"to_phone": receiver.phone, "amount": _irt("10000")},
                headers=sender.headers | {"Idempotency-Key": f"move-{n}"},
            )
        )
    results = await asyncio.gather(*moves)
    assert {r.status_code for r in results} <= {201, 409}
    assert any(r.status_code == 409 for r in results)  # someone ran dry, and was refused
    balances = [Decimal(await _balance(client, who)) for who in (buyer, owner, third)]
    assert all(b >= 0 for b in balances)
    assert sum(balances) == Decimal(130000)  # money is neither made nor lost
    assert await ledger_is_balanced()
    assert await Entry.all().count() == 2 * await Transaction.all().count()


async def test_pay_an_order_with_the_wallet(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "wallet-shop")
    product = await published_product(client, owner, staff, market["id"], price="300000", stock=5)
    await client.post(
        "/api/v1/cart/items",
        json={"product_id": product["id"], "quantity": 2},
        headers=buyer.headers,
    )
    order = (
        await client.post(
            "/api/v1/checkout",
            json={"market_id": market["id"], "payment_method": "online"},
            headers=buyer.headers,
        )
    ).json()
    await _fund(buyer, "500000")
    short = await client.post(
        f"/api/v1/orders/{order['id']}/pay-with-wallet", headers=buyer.headers
    )
    assert short.status_code == 409 and short.json()["code"] == "insufficient_funds"
    assert (await Order.get(id=order["id"])).status.value == "pending"  # nothing changed
    assert (await Product.get(id=product["id"])).reserved == 2
    await _fund(buyer, "100000")
    paid = await client.post(f"/api/v1/orders/{order['id']}/pay-with-wallet", headers=buyer.headers)
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    stock = await Product.get(id=product["id"])
    assert (stock.stock, stock.reserved) == (3, 0)
    assert await _balance(client, buyer) == "0"
    twice = await client.post(
        f"/api/v1/orders/{order['id']}/pay-with-wallet", headers=buyer.headers
    )
    assert twice.status_code == 409 and await _balance(client, buyer) == "0"
    fulfilled = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{order['id']}/fulfil", headers=owner.headers
    )
    assert fulfilled.json()["status"] == "fulfilled"
    assert await ledger_is_balanced()


async def test_cash_orders_are_not_paid_from_the_wallet(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "cash-shop")
    product = await published_product(client, owner, staff, market["id"], price="1000")
    await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
    )
    order = (
        await client.post(
            "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers
        )
    ).json()
    await _fund(buyer, "5000")
    refused = await client.post(
        f"/api/v1/orders/{order['id']}/pay-with-wallet", headers=buyer.headers
    )
    assert refused.status_code == 409 and await _balance(client, buyer) == "5000"


async def test_concurrent_first_postings_share_one_system_account(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    # Found by the payments benchmark: NULL owners made the unique constraint useless.
    from asoud.wallet.models import Account, AccountKind

    people = [await User.create(phone=f"+98912777{n:04d}") for n in range(20)]
    await asyncio.gather(
        *(credit_topup(p.id, Decimal(1000), "IRT", reference=f"first-{p.id}") for p in people)
    )
    assert await Account.filter(kind=AccountKind.external, currency="IRT").count() == 1
    external = await Account.get(kind=AccountKind.external, currency="IRT")
    assert external.balance == Decimal(-20000)
    assert await ledger_is_balanced()
