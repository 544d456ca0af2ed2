"""Market rules: opening, editing (revisions once published), lifecycle, colleagues, invites."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from asoud.catalog import cache as catalog_cache
from asoud.catalog.models import Product
from asoud.identity.models import User
from asoud.identity.phone import normalise_phone
from asoud.markets.access import Access
from asoud.markets.models import (
    Market,
    MarketInvite,
    MarketMember,
    MarketRevision,
    MarketStatus,
    PendingMember,
    RevisionStatus,
    StorefrontAccess,
)
from asoud.markets.schemas import (
    InviteIn,
    InviteOut,
    MarketCreate,
    MarketDetail,
    MarketManagement,
    MarketPatch,
    MarketPublic,
    MemberIn,
    RevisionOut,
)
from asoud.notifications.services import event_data, notify_quietly
from asoud.platform.database import fetch_sql, save_changes
from asoud.platform.errors import Conflict, DomainError, NotFound, field_error
from asoud.platform.money import display
from asoud.runtime import Platform
from asoud.taxonomy.models import Category
from asoud.taxonomy.services import leaf_category

SUBMITTABLE = (MarketStatus.draft, MarketStatus.needs_editing, MarketStatus.not_published)


def _now() -> datetime:
    return datetime.now(UTC)


def _refuse(market: Market, action: str) -> DomainError:
    return Conflict(
        "transition_not_allowed",
        entity="market",
        current=market.status.value,
        action=action,
        extra={"current_status": market.status.value},
    )


def public_view(market: Market) -> MarketPublic:
    return MarketPublic.model_validate(market, from_attributes=True)


def detail_view(market: Market, access: Access | None) -> MarketDetail:
    data = public_view(market).model_dump()
    if access is None:
        return MarketDetail(**data)
    management = MarketManagement(
        status=market.status,
        owner_id=market.owner_id,
        subscription_paid=market.fee_paid_at is not None,
        review_reason=market.review_reason,
        published_at=market.published_at,
        created_at=market.created_at,
        access=access.value,
    )
    return MarketDetail(**data, management=management)


async def _invalidate(platform: Platform, market: Market) -> None:
    product_ids = await Product.filter(market_id=market.id).values_list("id", flat=True)
    await catalog_cache.invalidate(platform, [str(market.id)], [str(p) for p in product_ids])


async def open_market(platform: Platform, owner: User, data: MarketCreate) -> Market:
    await leaf_category(data.category_id)
    fields = data.model_dump(exclude_none=True)
    try:
        return await Market.create(owner_id=owner.id, **fields)
    except IntegrityError:
        raise Conflict("business_id_taken") from None


async def edit_market(
    platform: Platform, market: Market, patch: MarketPatch
) -> Market | MarketRevision:
    """Apply at once (the market as it is now), or, for a published market, file a revision."""
    changes = patch.model_dump(exclude_unset=True, mode="json")
    if "category_id" in changes:
        await leaf_category(changes["category_id"])
    if not changes:
        return market
    async with in_transaction():
        # Locked and re-read: the decision below rests on the current status, and only the
        # edited columns are written (never status, fee or review fields from a stale read).
        market = await Market.filter(id=market.id).select_for_update().get()
        if market.status is MarketStatus.published:
            if await MarketRevision.exists(market_id=market.id, status=RevisionStatus.pending):
                raise Conflict("revision_pending")
            return await MarketRevision.create(
                market_id=market.id, changes=changes, base_updated_at=market.updated_at
            )
        if market.status is MarketStatus.inactive:
            raise _refuse(market, "edited")
        await save_changes(market, patch.model_dump(exclude_unset=True))
    await _invalidate(platform, market)
    return market


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise field_error("body.reason", "missing")


async def _transition(
    platform: Platform,
    market: Market,
    allowed_from: tuple[MarketStatus, ...],
    to: MarketStatus,
    action: str,
    **changes: Any,
) -> Market:
    # Conditional update: two racing transitions cannot both succeed.
    async with in_transaction():
        updated = await Market.filter(id=market.id, status__in=allowed_from).update(
            status=to, updated_at=_now(), **changes
        )
        if updated and to is not MarketStatus.published:
            # edits filed against the published market no longer apply to anything
            await _supersede_revisions(market.id, "the market left published")
    if not updated:
        await market.refresh_from_db()
        raise _refuse(market, action)
    await market.refresh_from_db()
    await _invalidate(platform, market)
    return market


async def submit(platform: Platform, market: Market) -> Market:
    if market.status not in SUBMITTABLE:
        raise _refuse(market, "submitted")
    # Every missing prerequisite at once, so the owner fixes them in one go.
    missing: list[dict[str, Any]] = []
    due, currency = await fee_due(market)
    if due > 0:
        missing.append({"code": "subscription_fee_unpaid", "due": display(due, currency)})
    profile = [
        name
        for name, present in (
            ("contact_phone_or_email", market.contact_phone or market.contact_email),
            ("city", market.city),
            ("address", market.address),
            ("location", market.latitude is not None and market.longitude is not None),
        )
        if not present
    ]
    if profile:
        missing.append({"code": "market_profile_incomplete", "fields": profile})
    if missing:
        code = missing[0]["code"] if len(missing) == 1 else "market_not_ready"
        raise Conflict(code, extra={"missing": missing})
    return await _transition(
        platform,
        market,
        SUBMITTABLE,
        MarketStatus.queued,
        "submitted",
        review_reason="",
        submitted_at=_now(),
    )


REVIEW_NOTICES = {
    "approve": "market_approved",
    "reject": "market_rejected",
    "request_changes": "market_changes_requested",
}


async def review(platform: Platform, market: Market, decision: str, reason: str) -> Market:
    """Staff decide on a queued market; the owner is told (inbox and chosen channels)."""
    if decision == "approve":
        market = await _transition(
            platform,
            market,
            (MarketStatus.queued,),
            MarketStatus.published,
            "approved",
            published_at=_now(),
            review_reason="",
        )
    else:
        _require_reason(reason)
        target = MarketStatus.not_published if decision == "reject" else MarketStatus.needs_editing
        market = await _transition(
            platform,
            market,
            (MarketStatus.queued,),
            target,
            "rejected" if decision == "reject" else "sent back",
            review_reason=reason.strip(),
        )
    await notify_quietly(
        platform,
        market.owner_id,
        REVIEW_NOTICES[decision],
        event_data(market_id=market.id),
        market=market.name,
        reason=reason.strip(),
    )
    return market


async def unpublish(platform: Platform, market: Market) -> Market:
    return await _transition(
        platform, market, (MarketStatus.published,), MarketStatus.not_published, "unpublished"
    )


async def deactivate(platform: Platform, market: Market) -> Market:
    active = tuple(s for s in MarketStatus if s is not MarketStatus.inactive)
    return await _transition(platform, market, active, MarketStatus.inactive, "deactivated")


async def reactivate(platform: Platform, market: Market) -> Market:
    return await _transition(
        platform, market, (MarketStatus.inactive,), MarketStatus.draft, "reactivated"
    )


async def fee_due(market: Market, category_id: int | None = None) -> tuple[Decimal, str]:
    """What is still owed for the market's category, or the one it is moving to: the fee
    less what was paid (in the same currency), so a move to a dearer category after paying
    for a cheap one leaves the difference due. No fee (or 0) means nothing is owed."""
    category = await Category.get(id=category_id or market.category_id)
    fee = category.subscription_fee or Decimal(0)
    paid = market.fee_paid_amount if market.fee_paid_currency == category.fee_currency else 0
    return max(fee - paid, Decimal(0)), category.fee_currency


async def mark_subscription_paid(market_id: Any, amount: Decimal, currency: str) -> None:
    """Called once per settled fee payment, inside the payment's settling transaction."""
    market = await Market.filter(id=market_id).select_for_update().get()
    if market.fee_paid_currency not in ("", currency):
        market.fee_paid_amount = Decimal(0)  # paid for a category priced in another currency
    market.fee_paid_amount += amount
    market.fee_paid_currency = currency
    market.fee_paid_at = _now()
    await market.save(update_fields=["fee_paid_amount", "fee_paid_currency", "fee_paid_at"])


async def _supersede_revisions(market_id: Any, reason: str) -> None:
    await MarketRevision.filter(market_id=market_id, status=RevisionStatus.pending).update(
        status=RevisionStatus.superseded, reason=reason, decided_at=_now()
    )


async def decide_revision(
    platform: Platform, revision_id: str, decision: str, reason: str
) -> MarketRevision:
    """Approve (apply the edit) or reject it. An edit applies only to the state it was filed
    against: if the market left published or changed since, it is superseded instead (409),
    since applying it would put older data back over newer."""
    stale = False
    async with in_transaction():
        revision = await MarketRevision.filter(id=revision_id).select_for_update().first()
        if revision is None:
            raise NotFound()
        if revision.status is not RevisionStatus.pending:
            raise Conflict(
                "transition_not_allowed",
                entity="revision",
                current=revision.status.value,
                action="decided",
            )
        if decision == "approve":
            market = await Market.filter(id=revision.market_id).select_for_update().get()
            stale = market.status is not MarketStatus.published or (
                revision.base_updated_at is not None
                and market.updated_at != revision.base_updated_at
            )
        if stale:
            revision.status = RevisionStatus.superseded
            revision.reason = "the market changed after this edit was filed"
        elif decision == "approve":
            patch = MarketPatch.model_validate(revision.changes)
            changes = patch.model_dump(exclude_unset=True)
            moving_to = changes.get("category_id")
            if moving_to is not None and moving_to != market.category_id:
                due, _ = await fee_due(market, moving_to)
                if due > 0:  # the owner pays the difference first (POST /payments)
                    raise Conflict("subscription_fee_unpaid")
            await save_changes(market, changes)
            revision.status = RevisionStatus.approved
        else:
            _require_reason(reason)
            revision.status = RevisionStatus.rejected
            revision.reason = reason.strip()
        revision.decided_at = _now()
        await revision.save()
    if stale:
        raise Conflict("revision_stale")
    if decision == "approve":
        await _invalidate(platform, market)
    owner = await Market.filter(id=revision.market_id).first().values("owner_id", "name")
    if owner is not None:
        await notify_quietly(
            platform,
            owner["owner_id"],
            "revision_approved" if decision == "approve" else "revision_rejected",
            event_data(market_id=revision.market_id, revision_id=revision.id),
            market=owner["name"],
            reason=revision.reason,
        )
    return revision


def revision_view(revision: MarketRevision) -> RevisionOut:
    return RevisionOut(
        id=revision.id,
        market_id=revision.market_id,
        status=revision.status.value,
        changes=revision.changes,
        reason=revision.reason,
        created_at=revision.created_at,
    )


async def add_member(market: Market, data: MemberIn) -> MarketMember | PendingMember:
    """A colleague by number: a member at once if the number has an account, otherwise an
    invitation that takes effect when the number signs in."""
    try:
        phone = normalise_phone(data.phone)
    except ValueError:
        raise field_error("body.phone", "invalid_phone") from None
    user = await User.get_or_none(phone=phone)
    try:
        if user is None:
            return await PendingMember.create(market_id=market.id, phone=phone, role=data.role)
        if user.id == market.owner_id:
            raise Conflict("member_exists")
        return await MarketMember.create(market_id=market.id, user_id=user.id, role=data.role)
    except IntegrityError:
        raise Conflict("member_exists") from None


async def join_invited_markets(user: User) -> int:
    """After a verified login: the invitations waiting for this number become memberships."""
    joined = 0
    for pending in await PendingMember.filter(phone=user.phone):
        with contextlib.suppress(IntegrityError):  # a member already (added meanwhile)
            await MarketMember.create(
                market_id=pending.market_id, user_id=user.id, role=pending.role
            )
            joined += 1
        await pending.delete()
    return joined


async def withdraw_invitation(market: Market, invitation_id: int) -> None:
    if not await PendingMember.filter(market_id=market.id, id=invitation_id).delete():
        raise NotFound()


async def remove_member(market: Market, user_id: str) -> None:
    if not await MarketMember.filter(market_id=market.id, user_id=user_id).delete():
        raise NotFound()


def _invite_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_invite(market: Market, data: InviteIn) -> InviteOut:
    token = "inv_" + secrets.token_urlsafe(24)
    invite = await MarketInvite.create(
        market_id=market.id,
        token_hash=_invite_hash(token),
        max_uses=data.max_uses,
        expires_at=_now() + timedelta(hours=data.expires_in_hours),
    )
    return InviteOut(
        id=invite.id, token=token, expires_at=invite.expires_at, max_uses=invite.max_uses
    )


async def accept_invite(user: User, token: str) -> Market:
    """Admit the caller to the invite's storefront (accepting twice admits once)."""
    invalid = NotFound("invite_invalid")
    async with in_transaction():
        invite = (
            await MarketInvite.filter(token_hash=_invite_hash(token)).select_for_update().first()
        )
        if invite is None or invite.revoked_at is not None or invite.expires_at <= _now():
            raise invalid
        market = await Market.get(id=invite.market_id)
        if await StorefrontAccess.exists(market_id=market.id, user_id=user.id):
            return market
        if invite.max_uses is not None and invite.uses >= invite.max_uses:
            raise invalid
        await StorefrontAccess.create(market_id=market.id, user_id=user.id)
        invite.uses += 1
        await invite.save(update_fields=["uses"])
    return market


async def markets_of(user: User) -> list[tuple[Market, str]]:
    """Markets the user can act on, with the access they hold (for /me): one query."""
    return [
        (
            Market(id=uuid.UUID(str(row["id"])), business_id=row["business_id"]),
            "owner" if row["role"] is None else str(row["role"]),
        )
        for row in await fetch_sql(_MARKETS_OF_SQL, [user.id])
    ]


# Owned markets and those the user is a colleague in, oldest first (a hot path: /me).
_MARKETS_OF_SQL = (
    'SELECT m."id" AS "id", m."business_id" AS "business_id", '
    'CASE WHEN m."owner_id" = $1 THEN NULL ELSE mm."role" END AS "role" '
    'FROM "markets_market" m LEFT JOIN "markets_member" mm '
    'ON mm."market_id" = m."id" AND mm."user_id" = $1 '
    'WHERE m."owner_id" = $1 OR mm."user_id" = $1 ORDER BY m."created_at", m."id"'
)
