"""Who may do what with a market. A market the caller may not see answers 404, never 403."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise.expressions import Q, Subquery

from asoud.identity.models import User
from asoud.markets.models import (
    Market,
    MarketMember,
    MarketStatus,
    StorefrontAccess,
    Visibility,
)
from asoud.markets.schemas import BUSINESS_ID
from asoud.platform.errors import NotFound, uuid_or_404


class Access(StrEnum):
    owner = "owner"
    manager = "manager"
    editor = "editor"
    viewer = "viewer"
    staff = "staff"


WRITE = frozenset({Access.owner, Access.manager, Access.editor, Access.staff})
READ = frozenset(Access)


async def access_of(user: User | None, market: Market) -> Access | None:
    if user is None:
        return None
    if market.owner_id == user.id:
        return Access.owner
    member = await MarketMember.get_or_none(market_id=market.id, user_id=user.id)
    if member is not None:
        return Access(member.role.value)
    return Access.staff if user.is_staff else None


async def market_for(
    user: User, market_id: str, allowed: frozenset[Access]
) -> tuple[Market, Access]:
    """The market if the caller's role is in ``allowed``; otherwise 404 (existence not leaked)."""
    market = await Market.get_or_none(id=uuid_or_404(market_id))
    if market is None:
        raise NotFound()
    access = await access_of(user, market)
    if access is None or access not in allowed:
        raise NotFound()
    return market, access


async def can_view_storefront(user: User | None, market: Market) -> bool:
    if market.status is not MarketStatus.published:
        return await access_of(user, market) is not None
    if market.visibility is Visibility.public:
        return True
    if user is None:
        return False
    if await access_of(user, market) is not None:
        return True
    return await StorefrontAccess.exists(market_id=market.id, user_id=user.id)


async def market_by_reference(reference: str) -> Market | None:
    """A market by its id or by its ``business_id`` (the slug people share, any case)."""
    try:
        return await Market.get_or_none(id=uuid.UUID(reference))
    except ValueError:
        pass
    slug = reference.lower()
    return await Market.get_or_none(business_id=slug) if BUSINESS_ID.match(slug) else None


async def market_id_of(reference: str) -> uuid.UUID:
    """The id a storefront reference names; a business_id costs one indexed look-up."""
    try:
        return uuid.UUID(reference)
    except ValueError:
        market = await market_by_reference(reference)
        if market is None:
            raise NotFound() from None
        return market.id


async def visible_market(user: User | None, market_id: str) -> Market:
    """The storefront, by id or business_id, if the caller may see it (404 otherwise)."""
    market = await market_by_reference(market_id)
    if market is None or not await can_view_storefront(user, market):
        raise NotFound()
    return market


def visible_markets_filter(user: User | None) -> Q:
    """Published markets the caller may browse: public ones, plus invite-only ones let in to."""
    public = Q(status=MarketStatus.published, visibility=Visibility.public)
    if user is None:
        return public
    invited = Q(
        status=MarketStatus.published,
        id__in=Subquery(StorefrontAccess.filter(user_id=user.id).values("market_id")),
    )
    own = Q(status=MarketStatus.published, owner_id=user.id)
    colleague = Q(
        status=MarketStatus.published,
        id__in=Subquery(MarketMember.filter(user_id=user.id).values("market_id")),
    )
    return Q(public, invited, own, colleague, join_type="OR")
