"""Running the marketplace without SQL: review queues, revisions that cannot revert newer data,
accounts staff disable and enable, storefronts by business_id, numbers in Persian digits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from asoud.identity.models import User
from asoud.markets.models import Market
from asoud.platform.database import save_changes
from asoud.runtime import Platform
from tests.support.login import e164, forget_codes, last_code
from tests.support.market import (
    GENEROUS_LIMITS,
    PROFILE,
    Actor,
    open_market,
    pay_fee,
    published_market,
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**GENEROUS_LIMITS}


async def test_a_storefront_opens_by_its_business_id(
    client: httpx.AsyncClient, owner: Actor, staff: Actor
) -> None:
    market = await published_market(client, owner, staff, "tehran-books")
    by_slug = await client.get("/api/v1/markets/Tehran-Books")  # any case, as people type it
    assert by_slug.status_code == 200 and by_slug.json()["id"] == market["id"]
    products = await client.get("/api/v1/markets/tehran-books/products")
    assert products.status_code == 200 and products.json()["items"] == []
    assert (await client.get("/api/v1/markets/no-such-market")).status_code == 404
    assert (await client.get("/api/v1/markets/not a slug!")).status_code == 404


async def test_an_edit_filed_before_unpublishing_never_reverts_newer_data(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, platform: Platform
) -> None:
    market = await published_market(client, owner, staff, "shop-revisions")
    mid = market["id"]
    filed = await client.patch(
        f"/api/v1/markets/{mid}", json={"name": "Old"}, headers=owner.headers
    )
    assert filed.status_code == 202
    # the owner takes the market offline and edits it directly
    assert (
        await client.post(f"/api/v1/markets/{mid}/unpublish", headers=owner.headers)
    ).status_code == 200
    edited = await client.patch(
        f"/api/v1/markets/{mid}", json={"name": "Newer"}, headers=owner.headers
    )
    assert edited.status_code == 200 and edited.json()["name"] == "Newer"
    # the old edit was closed when the market left published: approving it changes nothing
    pending = await client.get("/api/v1/admin/revisions", headers=staff.headers)
    assert pending.json()["items"] == []
    closed = await client.get(
        "/api/v1/admin/revisions", params={"status": "superseded"}, headers=staff.headers
    )
    assert [r["id"] for r in closed.json()["items"]] == [filed.json()["id"]]
    late = await client.post(
        f"/api/v1/admin/revisions/{filed.json()['id']}/review",
        json={"decision": "approve"},
        headers=staff.headers,
    )
    assert late.status_code == 409
    assert (await Market.get(id=mid)).name == "Newer"


async def test_an_edit_against_a_state_the_market_left_is_superseded_on_approval(
    client: httpx.AsyncClient, owner: Actor, staff: Actor
) -> None:
    market = await published_market(client, owner, staff, "shop-stale")
    mid = market["id"]
    filed = await client.patch(
        f"/api/v1/markets/{mid}", json={"slogan": "Filed"}, headers=owner.headers
    )
    # the market changes by another path after the edit was filed
    row = await Market.get(id=mid)
    await save_changes(row, {"slogan": "Changed since"})
    stale = await client.post(
        f"/api/v1/admin/revisions/{filed.json()['id']}/review",
        json={"decision": "approve"},
        headers={**staff.headers, "Accept-Language": "fa"},
    )
    assert stale.status_code == 409 and stale.json()["code"] == "revision_stale"
    assert "ویرایش" in stale.json()["title"]
    assert (await Market.get(id=mid)).slogan == "Changed since"
    superseded = await client.get(
        "/api/v1/admin/revisions",
        params={"status": "superseded", "market_id": mid},
        headers=staff.headers,
    )
    assert [r["status"] for r in superseded.json()["items"]] == ["superseded"]


async def test_staff_see_the_review_queue_longest_waiting_first(
    client: httpx.AsyncClient, owner: Actor, staff: Actor
) -> None:
    ids = []
    for business_id in ("queue-first", "queue-second", "queue-third"):
        market = await open_market(client, owner, business_id, **PROFILE)
        await pay_fee(market["id"])
        submitted = await client.post(
            f"/api/v1/markets/{market['id']}/submit", headers=owner.headers
        )
        assert submitted.status_code == 200
        ids.append(market["id"])
    await open_market(client, owner, "still-a-draft")
    url = "/api/v1/admin/markets"
    assert (await client.get(url, headers=owner.headers)).status_code == 403
    queue = await client.get(url, headers=staff.headers)
    assert [m["id"] for m in queue.json()["items"]] == ids
    assert {m["management"]["status"] for m in queue.json()["items"]} == {"queued"}
    first = await client.get(url, params={"limit": 2}, headers=staff.headers)
    rest = await client.get(
        url, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=staff.headers
    )
    assert [m["id"] for m in first.json()["items"] + rest.json()["items"]] == ids
    assert rest.json()["next_cursor"] is None
    found = await client.get(url, params={"q": "second"}, headers=staff.headers)
    assert [m["id"] for m in found.json()["items"]] == [ids[1]]
    drafts = await client.get(url, params={"status": "draft"}, headers=staff.headers)
    assert [m["business_id"] for m in drafts.json()["items"]] == ["still-a-draft"]
    bad = await client.get(url, params={"status": "nonsense"}, headers=staff.headers)
    assert bad.status_code == 422


async def test_staff_disable_an_account_and_its_sessions_end_at_once(
    client: httpx.AsyncClient, buyer: Actor, staff: Actor, platform: Platform
) -> None:
    assert (await client.get("/api/v1/me", headers=buyer.headers)).status_code == 200
    # found by the number as a person types it, in Persian digits
    persian = "۰۹۱۲۱۰۰۰۰۰۳"
    found = await client.get(
        "/api/v1/admin/users", params={"phone": persian}, headers=staff.headers
    )
    assert found.status_code == 200 and found.json()["phone"] == e164(buyer.phone)
    user_id = found.json()["id"]
    disabled = await client.post(f"/api/v1/admin/users/{user_id}/disable", headers=staff.headers)
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    assert (await client.get("/api/v1/me", headers=buyer.headers)).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": buyer.tokens["refresh_token"]}
    )
    assert refreshed.status_code in (401, 403)
    await forget_codes(platform)
    await client.post("/api/v1/auth/otp", json={"phone": buyer.phone})
    code = await last_code(platform, e164(buyer.phone))
    refused = await client.post("/api/v1/auth/token", json={"phone": buyer.phone, "code": code})
    assert refused.status_code == 403 and refused.json()["code"] == "account_inactive"

    enabled = await client.post(f"/api/v1/admin/users/{user_id}/enable", headers=staff.headers)
    assert enabled.json()["is_active"] is True
    await forget_codes(platform)
    await client.post("/api/v1/auth/otp", json={"phone": buyer.phone})
    code = await last_code(platform, e164(buyer.phone))
    again = await client.post("/api/v1/auth/token", json={"phone": buyer.phone, "code": code})
    assert again.status_code == 200

    me = await User.get(phone=e164(staff.phone))
    itself = await client.post(f"/api/v1/admin/users/{me.id}/disable", headers=staff.headers)
    assert itself.status_code == 409 and itself.json()["code"] == "cannot_disable_yourself"
    assert (
        await client.post(f"/api/v1/admin/users/{user_id}/disable", headers=buyer.headers)
    ).status_code in (401, 403)
    missing = await client.post(
        "/api/v1/admin/users/00000000-0000-0000-0000-000000000000/disable", headers=staff.headers
    )
    assert missing.status_code == 404


async def test_login_accepts_persian_and_arabic_indic_digits(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    for typed in ("۰۹۱۲۳۳۳۴۴۵۵", "٠٩١٢٣٣٣٤٤٥٥", "0912 333-4455"):
        await forget_codes(platform)
        sent = await client.post("/api/v1/auth/otp", json={"phone": typed})
        assert sent.status_code == 202, sent.text
        code = await last_code(platform, "+989123334455")
        tokens = await client.post("/api/v1/auth/token", json={"phone": typed, "code": code})
        assert tokens.status_code == 200, tokens.text
    assert await User.filter(phone="+989123334455").count() == 1
    wrong = await client.post("/api/v1/auth/otp", json={"phone": "۰۹۱۲۳۳۳۴۴۵"})
    assert wrong.status_code == 422


async def test_a_compare_at_price_must_be_above_the_price(
    client: httpx.AsyncClient, owner: Actor, staff: Actor
) -> None:
    market = await published_market(client, owner, staff, "shop-prices")
    url = f"/api/v1/markets/{market['id']}/products"
    body = {"name": "Lamp", "price": "100000", "stock": 3}
    for compare_at in ("100000", "90000"):
        refused = await client.post(
            url, json={**body, "compare_at_price": compare_at}, headers=owner.headers
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0] == {
            "field": "body.compare_at_price",
            "code": "compare_at_not_above_price",
            "message": "The compare-at price must be higher than the price.",
        }
    made = await client.post(
        url, json={**body, "compare_at_price": "120000"}, headers=owner.headers
    )
    assert made.status_code == 201
    product = f"/api/v1/products/{made.json()['id']}"
    # a price raised past the old "was" price is refused unless the edit moves it too
    raised = await client.patch(product, json={"price": "130000"}, headers=owner.headers)
    assert raised.status_code == 422
    both = await client.patch(
        product, json={"price": "130000", "compare_at_price": None}, headers=owner.headers
    )
    assert both.status_code == 200 and both.json()["compare_at_price"] is None


async def test_staff_see_drafts_waiting_to_be_published_oldest_first(
    client: httpx.AsyncClient, owner: Actor, staff: Actor
) -> None:
    market = await published_market(client, owner, staff, "shop-drafts")
    url = f"/api/v1/markets/{market['id']}/products"
    made = []
    for name in ("First lamp", "Second lamp", "Third vase"):
        created = await client.post(
            url, json={"name": name, "price": "1000", "stock": 1}, headers=owner.headers
        )
        made.append(created.json()["id"])
    queue = await client.get("/api/v1/admin/products", headers=staff.headers)
    assert [p["id"] for p in queue.json()["items"]] == made
    lamps = await client.get("/api/v1/admin/products", params={"q": "lamp"}, headers=staff.headers)
    assert [p["name"] for p in lamps.json()["items"]] == ["First lamp", "Second lamp"]
    await client.post(
        f"/api/v1/admin/products/{made[0]}/publish", json={"publish": True}, headers=staff.headers
    )
    left = await client.get(
        "/api/v1/admin/products", params={"market_id": market["id"]}, headers=staff.headers
    )
    assert [p["id"] for p in left.json()["items"]] == made[1:]
    assert (await client.get("/api/v1/admin/products", headers=owner.headers)).status_code == 403
