"""HTTP routes of the markets domain."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from tortoise.expressions import Q

from asoud.markets import services
from asoud.markets.access import (
    READ,
    WRITE,
    Access,
    access_of,
    market_for,
    visible_market,
    visible_markets_filter,
)
from asoud.markets.models import (
    Market,
    MarketMember,
    MarketRevision,
    MarketStatus,
    PendingMember,
    RevisionStatus,
)
from asoud.markets.schemas import (
    AccessGranted,
    AdminMarketPage,
    AdminMarketQuery,
    AdminRevisionQuery,
    InviteIn,
    InviteOut,
    MarketCreate,
    MarketDetail,
    MarketListQuery,
    MarketPage,
    MarketPatch,
    MemberIn,
    MemberList,
    MemberOut,
    ReviewDecision,
    RevisionOut,
)
from asoud.platform.errors import NotFound, int_id_or_404, uuid_or_404
from asoud.platform.http import Api, Auth, Call
from asoud.platform.pagination import newest_first, oldest_first

api = Api()
OWNER = frozenset({Access.owner})
STAFF = frozenset({Access.staff, Access.owner, Access.manager, Access.editor, Access.viewer})


class RevisionList(BaseModel):
    next_cursor: str | None = None
    items: list[RevisionOut]


@api.endpoint(
    "POST",
    "/api/v1/markets",
    summary="Open a market (draft)",
    tags=["markets"],
    auth=Auth.user,
    body=MarketCreate,
    responses={201: MarketDetail},
    errors=[409],
)
async def create_market(call: Call[MarketCreate, Any]) -> MarketDetail:
    market = await services.open_market(call.platform, call.principal.user, call.body)
    return services.detail_view(market, Access.owner)


@api.endpoint(
    "GET",
    "/api/v1/markets",
    summary="Browse published markets",
    tags=["markets"],
    auth=Auth.optional,
    query=MarketListQuery,
    responses={200: MarketPage},
)
async def list_markets(call: Call[Any, MarketListQuery]) -> MarketPage:
    """Newest first. Invite-only markets appear only to people let in."""
    query = call.query
    user = call.principal.user if call.principal else None
    qs = Market.filter(visible_markets_filter(user))
    if query.category_id is not None:
        qs = qs.filter(category_id=query.category_id)
    if query.q:
        qs = qs.filter(Q(name__icontains=query.q) | Q(slogan__icontains=query.q))
    rows, cursor = await newest_first(qs, query.limit, query.cursor)
    return MarketPage(items=[services.public_view(m) for m in rows], next_cursor=cursor)


@api.endpoint(
    "GET",
    "/api/v1/markets/{market_id}",
    summary="A market",
    tags=["markets"],
    auth=Auth.optional,
    responses={200: MarketDetail},
    errors=[404],
)
async def get_market(call: Call[Any, Any]) -> MarketDetail:
    """By id or by ``business_id`` (the slug people share). Everyone allowed to see the
    storefront gets the public fields; the owner, colleagues and staff also get ``management``."""
    user = call.principal.user if call.principal else None
    market = await visible_market(user, call.path["market_id"])
    return services.detail_view(market, await access_of(user, market))


@api.endpoint(
    "PATCH",
    "/api/v1/markets/{market_id}",
    summary="Edit a market",
    tags=["markets"],
    auth=Auth.user,
    body=MarketPatch,
    responses={200: MarketDetail, 202: RevisionOut},
    errors=[404, 409],
)
async def edit_market(call: Call[MarketPatch, Any]) -> Any:
    """Drafts change at once; edits of a published market wait for staff review (202)."""
    market, access = await market_for(call.principal.user, call.path["market_id"], WRITE)
    edited = await services.edit_market(call.platform, market, call.body)
    if isinstance(edited, MarketRevision):
        return 202, services.revision_view(edited)
    return services.detail_view(edited, access)


def _lifecycle(path: str, action: str, summary: str) -> None:
    @api.endpoint(
        "POST",
        f"/api/v1/markets/{{market_id}}/{path}",
        summary=summary,
        tags=["markets"],
        auth=Auth.user,
        responses={200: MarketDetail},
        errors=[404, 409],
    )
    async def handler(call: Call[Any, Any]) -> MarketDetail:
        market, access = await market_for(call.principal.user, call.path["market_id"], OWNER)
        market = await getattr(services, action)(call.platform, market)
        return services.detail_view(market, access)

    handler.__name__ = f"{action}_market"


_lifecycle("submit", "submit", "Submit for review (fee paid, profile complete)")
_lifecycle("unpublish", "unpublish", "Take a published market offline")
_lifecycle("deactivate", "deactivate", "Deactivate (only staff can reactivate)")


@api.endpoint(
    "GET",
    "/api/v1/markets/{market_id}/revisions",
    summary="Edits awaiting review",
    tags=["markets"],
    auth=Auth.user,
    responses={200: RevisionList},
    errors=[404],
)
async def list_revisions(call: Call[Any, Any]) -> RevisionList:
    market, _ = await market_for(call.principal.user, call.path["market_id"], WRITE)
    rows = await MarketRevision.filter(market_id=market.id).order_by("-created_at").limit(50)
    return RevisionList(items=[services.revision_view(r) for r in rows])


@api.endpoint(
    "GET",
    "/api/v1/markets/{market_id}/members",
    summary="Colleagues",
    tags=["markets"],
    auth=Auth.user,
    responses={200: MemberList},
    errors=[404],
)
async def list_members(call: Call[Any, Any]) -> MemberList:
    market, _ = await market_for(call.principal.user, call.path["market_id"], READ)
    rows = await MarketMember.filter(market_id=market.id).select_related("user").order_by("id")
    invited = await PendingMember.filter(market_id=market.id).order_by("id")
    return MemberList(items=[*map(_member_view, rows), *map(_member_view, invited)])


def _member_view(member: MarketMember | PendingMember) -> MemberOut:
    if isinstance(member, PendingMember):
        return MemberOut(
            user_id=None,
            display_name="",
            role=member.role,
            status="invited",
            phone=member.phone,
            invitation_id=member.id,
        )
    user: Any = member.user
    return MemberOut(user_id=user.id, display_name=user.display_name, role=member.role)


@api.endpoint(
    "POST",
    "/api/v1/markets/{market_id}/members",
    summary="Add a colleague",
    tags=["markets"],
    auth=Auth.user,
    body=MemberIn,
    responses={201: MemberOut},
    errors=[404, 409],
)
async def add_member(call: Call[MemberIn, Any]) -> MemberOut:
    """By number: a member at once if the number has an account, otherwise an invitation
    (``status: invited``) that takes effect when the number signs in."""
    market, _ = await market_for(call.principal.user, call.path["market_id"], OWNER)
    member = await services.add_member(market, call.body)
    if isinstance(member, MarketMember):
        await member.fetch_related("user")
    return _member_view(member)


@api.endpoint(
    "DELETE",
    "/api/v1/markets/{market_id}/members/{user_id}",
    summary="Remove a colleague",
    tags=["markets"],
    auth=Auth.user,
    responses={204: None},
    errors=[404],
)
async def remove_member(call: Call[Any, Any]) -> None:
    market, _ = await market_for(call.principal.user, call.path["market_id"], OWNER)
    await services.remove_member(market, str(uuid_or_404(call.path["user_id"])))


@api.endpoint(
    "DELETE",
    "/api/v1/markets/{market_id}/invitations/{invitation_id}",
    summary="Withdraw a colleague's invitation",
    tags=["markets"],
    auth=Auth.user,
    responses={204: None},
    errors=[404],
)
async def withdraw_invitation(call: Call[Any, Any]) -> None:
    market, _ = await market_for(call.principal.user, call.path["market_id"], OWNER)
    await services.withdraw_invitation(market, int_id_or_404(call.path["invitation_id"]))


@api.endpoint(
    "POST",
    "/api/v1/markets/{market_id}/invites",
    summary="Create an invite link",
    tags=["markets"],
    auth=Auth.user,
    body=InviteIn,
    responses={201: InviteOut},
    errors=[404],
)
async def create_invite(call: Call[InviteIn, Any]) -> InviteOut:
    market, _ = await market_for(call.principal.user, call.path["market_id"], OWNER)
    return await services.create_invite(market, call.body)


@api.endpoint(
    "POST",
    "/api/v1/invites/{token}/accept",
    summary="Accept an invite",
    tags=["markets"],
    auth=Auth.user,
    responses={200: AccessGranted},
    errors=[404],
)
async def accept_invite(call: Call[Any, Any]) -> AccessGranted:
    market = await services.accept_invite(call.principal.user, call.path["token"])
    return AccessGranted(market_id=market.id, business_id=market.business_id)


# Staff moderation


@api.endpoint(
    "POST",
    "/api/v1/admin/markets/{market_id}/review",
    summary="Review a market",
    tags=["admin"],
    auth=Auth.staff,
    body=ReviewDecision,
    responses={200: MarketDetail},
    errors=[404, 409],
)
async def review_market(call: Call[ReviewDecision, Any]) -> MarketDetail:
    """approve (queued → published), reject or request_changes (a reason is required)."""
    market, access = await market_for(call.principal.user, call.path["market_id"], STAFF)
    market = await services.review(call.platform, market, call.body.decision, call.body.reason)
    return services.detail_view(market, access)


@api.endpoint(
    "POST",
    "/api/v1/admin/markets/{market_id}/reactivate",
    summary="Reactivate a market (back to draft)",
    tags=["admin"],
    auth=Auth.staff,
    responses={200: MarketDetail},
    errors=[404, 409],
)
async def reactivate_market(call: Call[Any, Any]) -> MarketDetail:
    market, access = await market_for(call.principal.user, call.path["market_id"], STAFF)
    return services.detail_view(await services.reactivate(call.platform, market), access)


@api.endpoint(
    "GET",
    "/api/v1/admin/revisions",
    summary="Market edits awaiting review",
    tags=["admin"],
    auth=Auth.staff,
    query=AdminRevisionQuery,
    responses={200: RevisionList},
)
async def pending_revisions(call: Call[Any, AdminRevisionQuery]) -> RevisionList:
    """Pending edits by default, oldest first; filter by status and market."""
    query = call.query
    qs = MarketRevision.filter(status=RevisionStatus(query.status))
    if query.market_id is not None:
        qs = qs.filter(market_id=query.market_id)
    rows, cursor = await oldest_first(qs, query.limit, query.cursor)
    return RevisionList(items=[services.revision_view(r) for r in rows], next_cursor=cursor)


@api.endpoint(
    "GET",
    "/api/v1/admin/markets",
    summary="Markets by status: the review queue",
    tags=["admin"],
    auth=Auth.staff,
    query=AdminMarketQuery,
    responses={200: AdminMarketPage},
)
async def admin_markets(call: Call[Any, AdminMarketQuery]) -> AdminMarketPage:
    """Queued markets by default, longest waiting first (by when they were submitted); other
    statuses by when they last changed. Filters: category, city, text in name or business_id."""
    query = call.query
    qs = Market.filter(status=query.status)
    if query.category_id is not None:
        qs = qs.filter(category_id=query.category_id)
    if query.city:
        qs = qs.filter(city__iexact=query.city)
    if query.q:
        qs = qs.filter(Q(name__icontains=query.q) | Q(business_id__icontains=query.q))
    field = "submitted_at" if query.status is MarketStatus.queued else "updated_at"
    rows, cursor = await oldest_first(qs, query.limit, query.cursor, field)
    return AdminMarketPage(
        items=[services.detail_view(m, Access.staff) for m in rows], next_cursor=cursor
    )


@api.endpoint(
    "POST",
    "/api/v1/admin/revisions/{revision_id}/review",
    summary="Approve or reject a market edit",
    tags=["admin"],
    auth=Auth.staff,
    body=ReviewDecision,
    responses={200: RevisionOut},
    errors=[404, 409],
)
async def review_revision(call: Call[ReviewDecision, Any]) -> RevisionOut:
    if call.body.decision == "request_changes":
        raise NotFound()
    revision = await services.decide_revision(
        call.platform,
        str(uuid_or_404(call.path["revision_id"])),
        call.body.decision,
        call.body.reason,
    )
    return services.revision_view(revision)
