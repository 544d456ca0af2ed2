"""Abuse bounded (issue 11): holds per buyer, owners' holds released, owner messages batched,
no accounts for unverified numbers, no account oracle, private answers never cached."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from asoud.identity.models import User
from asoud.notifications.models import Delivery, Notification
from asoud.notifications.services import deliver
from asoud.orders.models import Order
from asoud.runtime import Platform
from tests.support.login import e164
from tests.support.market import (
    GENEROUS_LIMITS,
    Actor,
    actor,
    published_market,
    published_product,
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        **GENEROUS_LIMITS,
        "max_open_orders_per_market": 2,
        "max_held_units_per_market": 5,
        "notification_batch_seconds": 600,
    }


async def _checkout(
    client: httpx.AsyncClient, buyer: Actor, market_id: str, product_id: str, quantity: int
) -> httpx.Response:
    added = await client.post(
        "/api/v1/cart/items",
        json={"product_id": product_id, "quantity": quantity},
        headers=buyer.headers,
    )
    assert added.status_code == 201, added.text
    return await client.post(
        "/api/v1/checkout",
        json={"market_id": market_id, "payment_method": "cash"},
        headers=buyer.headers,
    )


async def test_one_buyer_cannot_hold_a_market_s_stock(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "hold-shop")
    product = await published_product(client, owner, staff, market["id"], stock=100)
    first = await _checkout(client, buyer, market["id"], product["id"], 2)
    second = await _checkout(client, buyer, market["id"], product["id"], 2)
    assert first.status_code == second.status_code == 201
    third = await _checkout(client, buyer, market["id"], product["id"], 1)
    assert third.status_code == 409 and third.json()["code"] == "too_many_open_orders"
    # one order fewer: the refused cart (1 unit) goes through, 2 + 1 units held
    await client.post(f"/api/v1/orders/{first.json()['id']}/cancel", headers=buyer.headers)
    again = await client.post(
        "/api/v1/checkout",
        json={"market_id": market["id"], "payment_method": "cash"},
        headers=buyer.headers,
    )
    assert again.status_code == 201, again.text
    await client.post(f"/api/v1/orders/{again.json()['id']}/cancel", headers=buyer.headers)
    units = await _checkout(client, buyer, market["id"], product["id"], 4)  # 2 held + 4 > 5
    assert units.status_code == 409 and units.json()["code"] == "too_many_units_held"
    assert units.json()["held"] == 2 and units.json()["limit"] == 5
    assert await Order.filter(status="pending").count() == 1

    # the owner sees the holds and releases one
    held = await client.get(
        f"/api/v1/markets/{market['id']}/orders",
        params={"status": "pending"},
        headers=owner.headers,
    )
    [order] = held.json()["items"]
    assert order["reserved_until"]
    released = await client.post(
        f"/api/v1/markets/{market['id']}/orders/{order['id']}/reject",
        json={"reason": "held for two days"},
        headers=owner.headers,
    )
    assert released.status_code == 200 and released.json()["status"] == "rejected"


async def test_owner_messages_of_one_kind_are_batched(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    market = await published_market(client, owner, staff, "batch-shop")
    product = await published_product(client, owner, staff, market["id"], stock=100)
    for _ in range(3):  # checkout and cancel, again and again
        order = await _checkout(client, buyer, market["id"], product["id"], 1)
        await client.post(f"/api/v1/orders/{order.json()['id']}/cancel", headers=buyer.headers)
    owner_id = (await User.get(phone=e164(owner.phone))).id
    assert await Notification.filter(user_id=owner_id, kind="order_placed").count() == 3
    deliveries = await Delivery.filter(recipient_id=owner_id, kind="order_placed")
    assert len(deliveries) == 1  # one SMS carries the three inbox entries
    assert await deliver(platform, deliveries[0].id) == "sent"
    outbox = platform.sms.provider_for(e164(owner.phone))
    texts = [m["text"] for m in await outbox.messages() if "text" in m]
    assert len(texts) == 1 and texts[0].endswith("(+2)")
    # the next one waits for the window to pass, and gathers what comes meanwhile
    await _checkout(client, buyer, market["id"], product["id"], 1)
    [waiting] = await Delivery.filter(recipient_id=owner_id, kind="order_placed", status="pending")
    assert await deliver(platform, waiting.id) == "nothing to do"


async def test_allow_lists_and_colleagues_create_no_accounts(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor
) -> None:
    market = await published_market(client, owner, staff, "invite-shop")
    before = await User.all().count()
    numbers = [f"0912{n:07d}" for n in range(500, 540)]
    code = await client.post(
        f"/api/v1/markets/{market['id']}/discounts",
        json={"kind": "fixed", "value": "1000", "allowed_phones": numbers},
        headers=owner.headers,
    )
    assert code.status_code == 201, code.text
    added = await client.post(
        f"/api/v1/markets/{market['id']}/members",
        json={"phone": "09124444444", "role": "editor"},
        headers=owner.headers,
    )
    assert added.status_code == 201, added.text
    assert added.json()["status"] == "invited" and added.json()["user_id"] is None
    assert await User.all().count() == before  # nobody verified those numbers

    # the colleague signs in (a verified number): the invitation becomes a membership
    colleague = await actor(client, platform, "09124444444")
    members = await client.get(f"/api/v1/markets/{market['id']}/members", headers=owner.headers)
    assert [(m["status"], m["role"]) for m in members.json()["items"]] == [("active", "editor")]
    edit = await client.patch(
        f"/api/v1/markets/{market['id']}", json={"slogan": "new"}, headers=colleague.headers
    )
    assert edit.status_code in (200, 202), edit.text
    # an allow-listed number that signs in later may use the code
    listed = await actor(client, platform, numbers[0])
    product = await published_product(client, owner, staff, market["id"], price="5000")
    await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"]}, headers=listed.headers
    )
    valid = await client.post(
        "/api/v1/discounts/validate",
        json={"market_id": market["id"], "code": code.json()["code"]},
        headers=listed.headers,
    )
    assert valid.status_code == 200, valid.text


async def test_a_transfer_does_not_tell_who_has_an_account(
    client: httpx.AsyncClient, owner: Actor, buyer: Actor
) -> None:
    body = {"amount": {"amount": "1000", "currency": "IRT"}}
    known = await client.post(
        "/api/v1/wallet/transfers", json={**body, "to_phone": owner.phone}, headers=buyer.headers
    )
    unknown = await client.post(
        "/api/v1/wallet/transfers",
        json={**body, "to_phone": "09127777777"},
        headers=buyer.headers,
    )
    assert known.status_code == unknown.status_code == 409  # no funds: the same answer
    assert known.json() == unknown.json()


async def test_private_answers_are_never_stored_and_401s_name_the_scheme(
    client: httpx.AsyncClient, buyer: Actor
) -> None:
    for path in ("/api/v1/me", "/api/v1/wallet", "/api/v1/orders"):
        private = await client.get(path, headers=buyer.headers)
        assert private.status_code == 200 and private.headers["cache-control"] == "no-store"
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": buyer.tokens["refresh_token"]}
    )
    assert refreshed.headers["cache-control"] == "no-store"
    public = await client.get("/api/v1/categories")
    assert "no-store" not in public.headers.get("cache-control", "")
    missing = await client.get("/api/v1/me")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    forged = await client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401
    assert forged.headers["www-authenticate"] == 'Bearer error="invalid_token"'
