"""Notifications: inbox, preferences with quiet hours, and delivery by SMS, push (FCM HTTP v1
fake) and e-mail (a real SMTP server on loopback)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from asoud.notifications.models import Delivery, Device, Notification
from asoud.notifications.services import deliver, deliver_due, quiet_until
from asoud.runtime import Platform
from tests.support.fake_push import FakeFcm
from tests.support.login import e164
from tests.support.market import GENEROUS_LIMITS, Actor, published_market, published_product
from tests.support.servers import serve


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Mailbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def fcm() -> Iterator[tuple[FakeFcm, str]]:
    fake = FakeFcm()
    holder: dict[str, str] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await fake.app(holder["token_url"])(scope, receive, send)

    with serve(app) as url:
        holder["token_url"] = f"{url}/token"
        yield fake, url


@pytest.fixture
def settings_overrides(smtp: tuple[_Mailbox, int], fcm: tuple[FakeFcm, str]) -> dict[str, Any]:
    fake, url = fcm
    return {
        **GENEROUS_LIMITS,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp[1],
        "smtp_starttls": False,
        "fcm_api_url": url,
        "fcm_token_url": f"{url}/token",
        "fcm_project_id": fake.project_id,
        "fcm_service_account_email": fake.service_account,
        "fcm_private_key": fake.private_key_pem,
    }


async def _order(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor
) -> dict[str, Any]:
    market = await published_market(client, owner, staff, "notify-shop")
    product = await published_product(client, owner, staff, market["id"], price="120000")
    # the market's approval notice is test_markets' subject: these tests follow the order's
    await Notification.all().delete()
    await client.post(
        "/api/v1/cart/items", json={"product_id": product["id"]}, headers=buyer.headers
    )
    return (
        await client.post(
            "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers
        )
    ).json()


async def test_owner_hears_of_a_new_order_by_inbox_and_sms(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    await client.patch("/api/v1/me", json={"language": "fa"}, headers=owner.headers)
    await _order(client, owner, staff, buyer)
    inbox = (await client.get("/api/v1/notifications", headers=owner.headers)).json()
    assert inbox["unread"] == 1
    [item] = inbox["items"]
    assert (
        item["kind"] == "order_placed"
        and item["title"] == "سفارش جدید"
        and "120000 IRT" in item["body"]
    )
    [delivery] = await Delivery.all()
    assert delivery.channel.value == "sms" and delivery.status.value == "pending"
    assert await deliver(platform, delivery.id) == "sent"
    assert await deliver(platform, delivery.id) == "nothing to do"  # a redelivered task sends once
    texts = [m for m in await platform.sms.iran.messages() if "text" in m]  # type: ignore[attr-defined]
    assert (
        len(texts) == 1 and texts[0]["to"] == "+989121000001" and "سفارش جدید" in texts[0]["text"]
    )
    read = await client.post("/api/v1/notifications/read", json={}, headers=owner.headers)
    assert read.json() == {"marked": 1}
    assert (await client.get("/api/v1/notifications", headers=owner.headers)).json()["unread"] == 0


async def test_customer_hears_of_order_changes(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    order = await _order(client, owner, staff, buyer)
    await client.post(
        f"/api/v1/markets/{order['market_id']}/orders/{order['id']}/accept", headers=owner.headers
    )
    items = (await client.get("/api/v1/notifications", headers=buyer.headers)).json()["items"]
    assert [(i["kind"], i["data"]["order_id"]) for i in items] == [("order_status", order["id"])]
    assert "completed" in items[0]["body"]


async def test_quiet_hours_hold_deliveries_back(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(hours=1)).strftime("%H:%M"),
        (now + timedelta(hours=2)).strftime("%H:%M"),
    )
    saved = await client.put(
        "/api/v1/me/notification-preferences",
        json={"quiet_start": start, "quiet_end": end, "timezone": "UTC"},
        headers=owner.headers,
    )
    assert saved.status_code == 200
    await _order(client, owner, staff, buyer)
    [delivery] = await Delivery.all()
    assert delivery.not_before > now + timedelta(minutes=100)
    assert await deliver(platform, delivery.id) == "nothing to do"  # not due: not claimed
    assert await deliver_due(platform) == 0
    await Delivery.filter(id=delivery.id).update(not_before=now - timedelta(minutes=1))
    assert await deliver_due(platform) == 1
    bad = await client.put(
        "/api/v1/me/notification-preferences", json={"quiet_start": "25:00"}, headers=owner.headers
    )
    assert bad.status_code == 422

    # combinations that could not work: each refused with its own message, nothing changed
    url = "/api/v1/me/notification-preferences"
    for body, field, code in [
        ({"quiet_start": "22:00"}, "body.quiet_end", "quiet_hours_need_both_ends"),
        ({"quiet_end": "07:00"}, "body.quiet_start", "quiet_hours_need_both_ends"),
        ({"quiet_start": "22:00", "quiet_end": "22:00"}, "body.quiet_end", "quiet_hours_empty"),
        ({"email": True}, "body.email_address", "email_needs_address"),
    ]:
        refused = await client.put(
            url, json=body, headers={**owner.headers, "Accept-Language": "fa"}
        )
        assert refused.status_code == 422, body
        [error] = refused.json()["errors"]
        assert (error["field"], error["code"]) == (field, code)
        assert error["message"] and not error["message"].isascii()  # in Persian
    kept = (await client.get(url, headers=owner.headers)).json()
    assert (kept["quiet_start"], kept["quiet_end"], kept["email"]) == (start, end, False)


def test_quiet_hours_over_midnight() -> None:
    from asoud.notifications.models import Preference

    preference = Preference(quiet_start="22:00", quiet_end="07:00", timezone="Asia/Tehran")
    late = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)  # 23:30 in Tehran
    assert quiet_until(preference, late) == datetime(
        2026, 11, 25, 3, 30, tzinfo=UTC
    )  # 07:00 Tehran
    noon = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert quiet_until(preference, noon) is None


async def test_push_through_fcm_and_email_through_smtp(
    client: httpx.AsyncClient,
    platform: Platform,
    smtp: tuple[_Mailbox, int],
    fcm: tuple[FakeFcm, str],
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    fake, _ = fcm
    mailbox, _ = smtp
    await client.put(
        "/api/v1/me/notification-preferences",
        json={"sms": False, "push": True, "email": True, "email_address": "owner@example.com"},
        headers=owner.headers,
    )
    for token in ("device-token-aaaaaaaaaaaaaaaa", "device-token-gone-bbbbbbbbbbbb"):
        assert (
            await client.post("/api/v1/me/devices", json={"token": token}, headers=owner.headers)
        ).status_code == 201
    fake.unregistered.add("device-token-gone-bbbbbbbbbbbb")
    await _order(client, owner, staff, buyer)
    deliveries = {d.channel.value: d for d in await Delivery.all()}
    assert set(deliveries) == {"push", "email"}
    assert await deliver(platform, deliveries["push"].id) == "sent"
    assert [m["token"] for m in fake.sent] == ["device-token-aaaaaaaaaaaaaaaa"]
    assert fake.sent[0]["notification"]["title"] == "New order" and fake.sent[0]["data"]["order_id"]
    assert await Device.filter(token="device-token-gone-bbbbbbbbbbbb").count() == 0  # forgotten
    assert await deliver(platform, deliveries["email"].id) == "sent"
    [mail] = mailbox.messages
    assert mail["To"] == "owner@example.com" and mail["Subject"] == "New order"


async def test_a_failed_delivery_schedules_its_retry_in_the_row(
    client: httpx.AsyncClient,
    platform: Platform,
    smtp: tuple[_Mailbox, int],
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    await client.put(
        "/api/v1/me/notification-preferences",
        json={"sms": False, "push": False, "email": True, "email_address": "owner@example.com"},
        headers=owner.headers,
    )
    await _order(client, owner, staff, buyer)
    [delivery] = await Delivery.all()
    platform.settings = platform.settings.model_copy(update={"smtp_port": 1})
    before = datetime.now(UTC)
    assert await deliver(platform, delivery.id) == "retry scheduled"  # no sleeping worker
    failed = await Delivery.get(id=delivery.id)
    assert (failed.status.value, failed.attempts, failed.last_error) == ("pending", 1, "MailError")
    assert failed.claimed_until is None and failed.not_before > before  # due again later
    assert await deliver(platform, delivery.id) == "nothing to do"  # not before its time
    assert await Notification.all().count() == 1


async def _owner_sms(platform: Platform, owner: Actor) -> list[dict[str, str]]:
    outbox = platform.sms.provider_for(e164(owner.phone))
    return [m for m in await outbox.messages() if m["to"] == e164(owner.phone) and "text" in m]


async def test_a_delivery_is_sent_once_however_many_paths_reach_it(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    """The task enqueued with it, its redelivery, and the sweep (two schedulers' worth)."""
    await _order(client, owner, staff, buyer)
    [delivery] = await Delivery.all()
    await Delivery.filter(id=delivery.id).update(
        not_before=datetime.now(UTC) - timedelta(minutes=1)  # old enough for the sweep too
    )
    results = await asyncio.gather(
        deliver(platform, delivery.id),
        deliver(platform, delivery.id),
        deliver_due(platform),
        deliver_due(platform),
        deliver(platform, delivery.id),
    )
    assert sorted(str(r) for r in results).count("sent") == 1
    assert len(await _owner_sms(platform, owner)) == 1
    assert await deliver_due(platform) == 0  # sent: the sweep leaves it alone


async def test_only_a_worker_dying_between_send_and_record_sends_twice(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor, buyer: Actor
) -> None:
    from asoud.notifications import services

    await _order(client, owner, staff, buyer)
    [delivery] = await Delivery.all()
    # a worker claims it, sends it ... and dies before recording it
    assert await services._claim(delivery.id)
    await platform.sms.send_text(e164(owner.phone), "sent once")
    await Delivery.filter(id=delivery.id).update(
        not_before=datetime.now(UTC) - timedelta(minutes=1)
    )
    assert await deliver_due(platform) == 0  # its claim still holds
    assert await deliver(platform, delivery.id) == "nothing to do"
    await Delivery.filter(id=delivery.id).update(
        claimed_until=datetime.now(UTC) - timedelta(seconds=1)  # the claim ran out
    )
    assert await deliver_due(platform) == 1
    assert await deliver(platform, delivery.id) == "sent"
    assert len(await _owner_sms(platform, owner)) == 2  # at most twice, and only this way
