"""Discount codes of a market (or one product) and their per-order redemptions."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model


class DiscountKind(StrEnum):
    percentage = "percentage"
    fixed = "fixed"


class Discount(Model):
    """Reserved uses are held by orders not yet paid or accepted. Used ones are final.

    reserved + used never exceeds usage_limit (conditional updates).
    """

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    market_id: uuid.UUID
    product_id: uuid.UUID | None

    id = fields.UUIDField(primary_key=True)
    market: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.Market", related_name="discounts", on_delete=fields.CASCADE
    )
    product: fields.ForeignKeyNullableRelation[Model] = fields.ForeignKeyField(
        "asoud.Product", related_name="discounts", null=True, on_delete=fields.CASCADE
    )
    code = fields.CharField(max_length=32)
    kind = fields.CharEnumField(DiscountKind, max_length=16)
    value = fields.DecimalField(max_digits=18, decimal_places=2)
    expires_at = fields.DatetimeField(null=True)
    usage_limit = fields.IntField(null=True)
    used = fields.IntField(default=0)
    reserved = fields.IntField(default=0)
    # Numbers in E.164, matched against the buyer's verified login number: an allow-list
    # creates no accounts for numbers nobody has verified.
    allowed_phones: fields.JSONField[list[str]] = fields.JSONField(default=list)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "discounts_discount"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("product_id",),)
        unique_together = (("market", "code"),)
        constraints = (
            CheckConstraint(
                check="used >= 0 AND reserved >= 0 "
                "AND (usage_limit IS NULL OR used + reserved <= usage_limit)",
                name="discounts_discount_uses_within_limit",
            ),
        )


class RedemptionState(StrEnum):
    reserved = "reserved"
    consumed = "consumed"
    released = "released"


class Redemption(Model):
    """A discount applied to an order. A buyer holds at most one live redemption per discount."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    discount_id: uuid.UUID
    user_id: uuid.UUID

    id = fields.IntField(primary_key=True)
    discount: fields.ForeignKeyRelation[Discount] = fields.ForeignKeyField(
        "asoud.Discount", related_name="redemptions", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.User", related_name="redemptions", on_delete=fields.CASCADE
    )
    order_id = fields.UUIDField(unique=True)
    state = fields.CharEnumField(RedemptionState, max_length=16, default=RedemptionState.reserved)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "discounts_redemption"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("discount_id",), ("user_id",))
