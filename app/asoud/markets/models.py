"""Tables of the markets domain: vendor stores, their colleagues, invites and revisions."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from asoud.identity.models import User


class MarketStatus(StrEnum):
    draft = "draft"
    queued = "queued"
    published = "published"
    not_published = "not_published"
    needs_editing = "needs_editing"
    inactive = "inactive"


class MarketType(StrEnum):
    company = "company"
    shop = "shop"


class Visibility(StrEnum):
    public = "public"
    invite_only = "invite_only"


class MemberRole(StrEnum):
    manager = "manager"
    editor = "editor"
    viewer = "viewer"


class Market(Model):
    """A vendor's store. The business id is its storefront subdomain."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    owner_id: uuid.UUID
    category_id: int

    id = fields.UUIDField(primary_key=True)
    owner: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.User", related_name="markets", on_delete=fields.RESTRICT
    )
    type = fields.CharEnumField(MarketType, max_length=16)
    business_id = fields.CharField(max_length=63, unique=True)
    name = fields.CharField(max_length=120)
    description = fields.TextField(default="")
    slogan = fields.CharField(max_length=200, default="")
    category: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.Category", related_name="markets", on_delete=fields.RESTRICT
    )
    currency = fields.CharField(max_length=3, default="IRT")
    status = fields.CharEnumField(
        MarketStatus, max_length=16, default=MarketStatus.draft, db_index=True
    )
    visibility = fields.CharEnumField(Visibility, max_length=16, default=Visibility.public)
    city = fields.CharField(max_length=80, default="")
    address = fields.CharField(max_length=300, default="")
    latitude = fields.DecimalField(max_digits=9, decimal_places=6, null=True)
    longitude = fields.DecimalField(max_digits=9, decimal_places=6, null=True)
    contact_phone = fields.CharField(max_length=20, default="")
    contact_email = fields.CharField(max_length=200, default="")
    theme: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)
    opening_hours: fields.JSONField[dict[str, list[list[str]]]] = fields.JSONField(
        default=dict, description="weekday -> [[open, close], ...]"
    )
    logo_ref = fields.CharField(max_length=300, default="")
    background_ref = fields.CharField(max_length=300, default="")
    fee_paid_at = fields.DatetimeField(null=True)
    # What was paid, so moving to a dearer category leaves the difference due.
    fee_paid_amount = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    fee_paid_currency = fields.CharField(max_length=3, default="")
    review_reason = fields.TextField(default="")
    published_at = fields.DatetimeField(null=True)
    # when it last entered the review queue: staff see the longest waiting first
    submitted_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "markets_market"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("category_id",), ("owner_id",))


class PendingMember(Model):
    """A colleague added by a number that has no account yet: becomes a member when that
    number signs in (a verified login). No account is created for a number nobody verified."""

    market_id: uuid.UUID

    id = fields.IntField(primary_key=True)
    market: fields.ForeignKeyRelation[Market] = fields.ForeignKeyField(
        "asoud.Market", related_name="pending_members", on_delete=fields.CASCADE
    )
    phone = fields.CharField(max_length=20, db_index=True)
    role = fields.CharEnumField(MemberRole, max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "markets_pending_member"
        unique_together = (("market", "phone"),)


class MarketMember(Model):
    """A colleague: managers and editors may write, viewers only read."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    market_id: uuid.UUID
    user_id: uuid.UUID

    id = fields.IntField(primary_key=True)
    market: fields.ForeignKeyRelation[Market] = fields.ForeignKeyField(
        "asoud.Market", related_name="members", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "asoud.User", related_name="memberships", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(MemberRole, max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "markets_member"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("user_id",),)
        unique_together = (("market", "user"),)


class MarketInvite(Model):
    """An invite link to an invite-only storefront. Only the token's SHA-256 is stored."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    market_id: uuid.UUID

    id = fields.UUIDField(primary_key=True)
    market: fields.ForeignKeyRelation[Market] = fields.ForeignKeyField(
        "asoud.Market", related_name="invites", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    max_uses = fields.IntField(null=True)
    uses = fields.IntField(default=0)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "markets_invite"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("market_id",),)


class StorefrontAccess(Model):
    """A customer admitted to an invite-only storefront."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    market_id: uuid.UUID
    user_id: uuid.UUID

    id = fields.IntField(primary_key=True)
    market: fields.ForeignKeyRelation[Market] = fields.ForeignKeyField(
        "asoud.Market", related_name="accesses", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.User", related_name="storefront_accesses", on_delete=fields.CASCADE
    )
    granted_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "markets_storefront_access"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("user_id",),)
        unique_together = (("market", "user"),)


class RevisionStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    superseded = "superseded"  # the market changed under it (left published, or edited)


class MarketRevision(Model):
    """Edits to a published market, waiting for staff. Live data changes only on approval."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    market_id: uuid.UUID

    id = fields.UUIDField(primary_key=True)
    market: fields.ForeignKeyRelation[Market] = fields.ForeignKeyField(
        "asoud.Market", related_name="revisions", on_delete=fields.CASCADE
    )
    changes: fields.JSONField[dict[str, Any]] = fields.JSONField()
    # The market's updated_at when the revision was filed: it applies only to that state.
    base_updated_at = fields.DatetimeField(null=True)
    status = fields.CharEnumField(RevisionStatus, max_length=16, default=RevisionStatus.pending)
    reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "markets_revision"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("market_id",),)
