"""Markets over HTTP: lifecycle and review, revisions, colleagues, invite-only storefronts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from asoud.markets.models import Market, MarketStatus
from asoud.runtime import Platform
from tests.support.market import (
    GENEROUS_LIMITS,
    PROFILE,
    Actor,
    actor,
    open_market,
    pay_fee,
    published_market,
    queries_of,
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**GENEROUS_LIMITS}


@pytest.fixture
async def stranger(client: httpx.AsyncClient, platform: Platform) -> Actor:
    return await actor(client, platform, "09121000009")


async def test_market_goes_from_draft_to_published_through_review(
    client: httpx.AsyncClient, owner: Actor, staff: Actor
) -> None:
    market = await open_market(client, owner, "tehran-books")
    mid = market["id"]
    assert market["management"]["status"] == "draft" and market["management"]["access"] == "owner"

    # every missing prerequisite at once: the fee and each profile field
    unready = await client.post(
        f"/api/v1/markets/{mid}/submit", headers={**owner.headers, "Accept-Language": "fa"}
    )
    assert unready.status_code == 409 and unready.json()["code"] == "market_not_ready"
    assert unready.json()["title"] == "آماده بررسی نیست"
    missing = unready.json()["missing"]
    assert [m["code"] for m in missing] == ["subscription_fee_unpaid", "market_profile_incomplete"]
    assert missing[0]["due"].endswith(" IRT")
    assert missing[1]["fields"] == ["contact_phone_or_email", "city", "address", "location"]
    await pay_fee(mid)
    incomplete = await client.post(f"/api/v1/markets/{mid}/submit", headers=owner.headers)
    assert (
        incomplete.status_code == 409 and incomplete.json()["code"] == "market_profile_incomplete"
    )
    assert (
        await client.patch(f"/api/v1/markets/{mid}", json=PROFILE, headers=owner.headers)
    ).status_code == 200
    queued = await client.post(f"/api/v1/markets/{mid}/submit", headers=owner.headers)
    assert queued.json()["management"]["status"] == "queued"

    # staff rejects (a reason is required), the owner fixes and resubmits
    no_reason = await client.post(
        f"/api/v1/admin/markets/{mid}/review", json={"decision": "reject"}, headers=staff.headers
    )
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "body.reason"
    rejected = await client.post(
        f"/api/v1/admin/markets/{mid}/review",
        json={"decision": "reject", "reason": "Logo missing"},
        headers=staff.headers,
    )
    assert rejected.json()["management"]["status"] == "not_published"
    assert rejected.json()["management"]["review_reason"] == "Logo missing"
    await client.post(f"/api/v1/markets/{mid}/submit", headers=owner.headers)
    changes = await client.post(
        f"/api/v1/admin/markets/{mid}/review",
        json={"decision": "request_changes", "reason": "Add hours"},
        headers=staff.headers,
    )
    assert changes.json()["management"]["status"] == "needs_editing"
    await client.post(f"/api/v1/markets/{mid}/submit", headers=owner.headers)
    approved = await client.post(
        f"/api/v1/admin/markets/{mid}/review", json={"decision": "approve"}, headers=staff.headers
    )
    assert approved.status_code == 200 and approved.json()["management"]["status"] == "published"
    # the owner was told of each decision, with the reason, in their inbox (newest first)
    await client.patch("/api/v1/me", json={"language": "fa"}, headers=owner.headers)
    inbox = (await client.get("/api/v1/notifications", headers=owner.headers)).json()["items"]
    assert [n["kind"] for n in inbox] == [
        "market_approved",
        "market_changes_requested",
        "market_rejected",
    ]
    assert "Add hours" in inbox[1]["body"] and "Logo missing" in inbox[2]["body"]

    listed = await client.get("/api/v1/markets")
    assert [m["id"] for m in listed.json()["items"]] == [mid]
    public = await client.get(f"/api/v1/markets/{mid}")
    assert public.status_code == 200 and public.json()["management"] is None


async def test_illegal_transitions_are_refused(
    client: httpx.AsyncClient, owner: Actor, staff: Actor, stranger: Actor
) -> None:
    market = await published_market(client, owner, staff, "shop-one")
    mid = market["id"]
    again = await client.post(
        f"/api/v1/admin/markets/{mid}/review", json={"decision": "approve"}, headers=staff.headers
    )
    assert again.status_code == 409 and again.json()["code"] == "transition_not_allowed"
    assert again.json()["current_status"] == "published"
    not_staff = await client.post(
        f"/api/v1/admin/markets/{mid}/review", json={"decision": "approve"}, headers=owner.headers
    )
    assert not_staff.status_code == 403
    foreign = await client.post(f"/api/v1/markets/{mid}/unpublish", headers=stranger.headers)
    assert foreign.status_code == 404  # another person's market does not exist for them
    assert (await client.post(f"/api/v1/markets/{mid}/unpublish", headers=owner.headers)).json()[
        "management"
    ]["status"] == "not_published"
    deactivated = await client.post(f"/api/v1/markets/{mid}/deactivate", headers=owner.headers)
    assert deactivated.json()["management"]["status"] == "inactive"
    assert (
        await client.post(f"/api/v1/markets/{mid}/submit", headers=owner.headers)
    ).status_code == 409
    assert (
        await client.post(f"/api/v1/admin/markets/{mid}/reactivate", headers=owner.headers)
    ).status_code == 403
    reactivated = await client.post(
        f"/api/v1/admin/markets/{mid}/reactivate", headers=staff.headers
    )
    assert reactivated.json()["management"]["status"] == "draft"
    assert (await Market.get(id=mid)).status is MarketStatus.draft


async def test_editing_a_published_market_files_a_revision(
    client: httpx.AsyncClient, owner: Actor, staff: Actor
) -> None:
    market = await published_market(client, owner, staff, "shop-two")
    mid = market["id"]
    filed = await client.patch(
        f"/api/v1/markets/{mid}", json={"name": "New name"}, headers=owner.headers
    )
    assert filed.status_code == 202 and filed.json()["status"] == "pending"
    assert (await client.get(f"/api/v1/markets/{mid}")).json()[
        "name"
    ] == "Market shop-two"  # live data unchanged
    second = await client.patch(
        f"/api/v1/markets/{mid}", json={"slogan": "x"}, headers=owner.headers
    )
    assert second.status_code == 409 and second.json()["code"] == "revision_pending"
    pending = (await client.get("/api/v1/admin/revisions", headers=staff.headers)).json()["items"]
    assert [r["id"] for r in pending] == [filed.json()["id"]]
    approved = await client.post(
        f"/api/v1/admin/revisions/{filed.json()['id']}/review",
        json={"decision": "approve"},
        headers=staff.headers,
    )
    assert approved.json()["status"] == "approved"
    assert (await client.get(f"/api/v1/markets/{mid}")).json()["name"] == "New name"
    twice = await client.post(
        f"/api/v1/admin/revisions/{filed.json()['id']}/review",
        json={"decision": "reject", "reason": "x"},
        headers=staff.headers,
    )
    assert twice.status_code == 409

    other = await client.patch(
        f"/api/v1/markets/{mid}", json={"name": "Bad name"}, headers=owner.headers
    )
    rejected = await client.post(
        f"/api/v1/admin/revisions/{other.json()['id']}/review",
        json={"decision": "reject", "reason": "Misleading"},
        headers=staff.headers,
    )
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "Misleading"
    assert (await client.get(f"/api/v1/markets/{mid}")).json()["name"] == "New name"
    inbox = (await client.get("/api/v1/notifications", headers=owner.headers)).json()["items"]
    assert [n["kind"] for n in inbox][:2] == ["revision_rejected", "revision_approved"]
    assert "Misleading" in inbox[0]["body"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"business_id": "Ab"}, "body.business_id", "invalid_business_id"),
        ({"business_id": "-bad-start"}, "body.business_id", "invalid_business_id"),
        ({"business_id": "UPPER-case"}, "body.business_id", "invalid_business_id"),
        (
            {"opening_hours": {"sat": [["09:00", "13:00"], ["12:00", "18:00"]]}},
            "body.opening_hours",
            "overlapping_hours",
        ),
        ({"opening_hours": {"sun": [["18:00", "09:00"]]}}, "body.opening_hours", "invalid_hours"),
        ({"type": "kiosk"}, "body.type", "enum"),
    ],
)
async def test_invalid_markets_are_refused_and_nothing_is_created(
    client: httpx.AsyncClient, owner: Actor, body: dict[str, Any], field: str, code: str
) -> None:
    from tests.support.market import leaf_id

    payload = {
        "type": "shop",
        "business_id": "good-name",
        "name": "N",
        "category_id": await leaf_id(),
        **body,
    }
    payload["name"] = "Name"
    response = await client.post(
        "/api/v1/markets", json=payload, headers=owner.headers | {"Accept-Language": "fa"}
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == (field, code)
    assert await Market.all().count() == 0


async def test_business_id_is_unique_and_category_must_be_a_leaf(
    client: httpx.AsyncClient, owner: Actor
) -> None:
    from tests.support.market import leaf_id

    await open_market(client, owner, "unique-name")
    taken = await client.post(
        "/api/v1/markets",
        json={
            "type": "shop",
            "business_id": "unique-name",
            "name": "Other",
            "category_id": await leaf_id(),
        },
        headers=owner.headers,
    )
    assert taken.status_code == 409 and taken.json()["code"] == "business_id_taken"
    from asoud.taxonomy.models import Category

    group = await Category.get(slug="goods")
    not_leaf = await client.post(
        "/api/v1/markets",
        json={
            "type": "shop",
            "business_id": "other-name",
            "name": "Other",
            "category_id": group.id,
        },
        headers=owner.headers,
    )
    assert (
        not_leaf.status_code == 422
        and not_leaf.json()["errors"][0]["code"] == "not_a_leaf_category"
    )


async def test_colleagues_get_the_access_of_their_role(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor, stranger: Actor
) -> None:
    market = await open_market(client, owner, "team-shop")
    mid = market["id"]
    editor = await actor(client, platform, "09121000004")
    viewer = await actor(client, platform, "09121000005")
    for who, role in ((editor, "editor"), (viewer, "viewer")):
        added = await client.post(
            f"/api/v1/markets/{mid}/members",
            json={"phone": who.phone, "role": role},
            headers=owner.headers,
        )
        assert added.status_code == 201 and added.json()["role"] == role
    duplicate = await client.post(
        f"/api/v1/markets/{mid}/members",
        json={"phone": editor.phone, "role": "viewer"},
        headers=owner.headers,
    )
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "member_exists"
    assert (
        await client.post(
            f"/api/v1/markets/{mid}/members",
            json={"phone": stranger.phone, "role": "viewer"},
            headers=editor.headers,
        )
    ).status_code == 404  # only the owner manages colleagues

    assert (
        await client.patch(
            f"/api/v1/markets/{mid}", json={"slogan": "By the editor"}, headers=editor.headers
        )
    ).status_code == 200
    assert (
        await client.patch(
            f"/api/v1/markets/{mid}", json={"slogan": "By the viewer"}, headers=viewer.headers
        )
    ).status_code == 404
    assert (await client.get(f"/api/v1/markets/{mid}", headers=viewer.headers)).json()[
        "management"
    ]["access"] == "viewer"
    assert (
        await client.get(f"/api/v1/markets/{mid}", headers=stranger.headers)
    ).status_code == 404  # a draft
    me_response, me_queries = await queries_of(
        client, "/api/v1/me", "/api/v1/me", headers=editor.headers
    )
    assert me_queries == 2  # the session check and the markets with their roles
    me = me_response.json()
    assert me["markets"] == [{"market_id": mid, "business_id": "team-shop", "access": "editor"}]

    members = (await client.get(f"/api/v1/markets/{mid}/members", headers=viewer.headers)).json()[
        "items"
    ]
    assert {m["role"] for m in members} == {"editor", "viewer"}
    removed = await client.delete(
        f"/api/v1/markets/{mid}/members/{members[0]['user_id']}", headers=owner.headers
    )
    assert removed.status_code == 204


async def test_invite_only_storefront(
    client: httpx.AsyncClient, platform: Platform, owner: Actor, staff: Actor, stranger: Actor
) -> None:
    market = await published_market(client, owner, staff, "secret-shop", visibility="invite_only")
    mid = market["id"]
    assert (await client.get(f"/api/v1/markets/{mid}")).status_code == 404
    assert (await client.get(f"/api/v1/markets/{mid}", headers=stranger.headers)).status_code == 404
    assert (
        await client.get(f"/api/v1/markets/{mid}/products", headers=stranger.headers)
    ).status_code == 404
    assert (await client.get("/api/v1/markets", headers=stranger.headers)).json()["items"] == []

    invite = await client.post(
        f"/api/v1/markets/{mid}/invites", json={"max_uses": 1}, headers=owner.headers
    )
    assert invite.status_code == 201
    token = invite.json()["token"]
    accepted = await client.post(f"/api/v1/invites/{token}/accept", headers=stranger.headers)
    assert accepted.status_code == 200 and accepted.json()["business_id"] == "secret-shop"
    assert (
        await client.post(f"/api/v1/invites/{token}/accept", headers=stranger.headers)
    ).status_code == 200  # idempotent
    assert (await client.get(f"/api/v1/markets/{mid}", headers=stranger.headers)).status_code == 200
    assert [
        m["id"]
        for m in (await client.get("/api/v1/markets", headers=stranger.headers)).json()["items"]
    ] == [mid]

    latecomer = await actor(client, platform, "09121000006")
    used_up = await client.post(f"/api/v1/invites/{token}/accept", headers=latecomer.headers)
    assert used_up.status_code == 404 and used_up.json()["code"] == "invite_invalid"
    assert (
        await client.post("/api/v1/invites/inv_nonsense/accept", headers=latecomer.headers)
    ).status_code == 404


async def test_market_list_paginates_with_a_constant_number_of_queries(
    client: httpx.AsyncClient, owner: Actor, staff: Actor
) -> None:
    ids = [
        (await published_market(client, owner, staff, f"paged-shop-{n}"))["id"] for n in range(7)
    ]
    small, small_queries = await queries_of(client, "/api/v1/markets", "/api/v1/markets?limit=2")
    large, large_queries = await queries_of(client, "/api/v1/markets", "/api/v1/markets?limit=50")
    assert len(small.json()["items"]) == 2 and len(large.json()["items"]) == 7
    assert small_queries == large_queries == 1
    seen, cursor = [], None
    while True:
        page = (
            await client.get(
                "/api/v1/markets", params={"limit": 3, **({"cursor": cursor} if cursor else {})}
            )
        ).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))  # newest first, each exactly once
    bad = await client.get("/api/v1/markets?cursor=garbage")
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "invalid_cursor"
