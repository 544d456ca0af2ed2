"""The catalogue: products of a market (goods and services)."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.contrib.postgres.fields import TSVectorField
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model


class ProductKind(StrEnum):
    good = "good"
    service = "service"


class ProductStatus(StrEnum):
    draft = "draft"
    published = "published"
    archived = "archived"


class Product(Model):
    """A product. Reserved units are held for orders being paid or accepted.

    Available = stock - reserved, never negative (checked by conditional updates).
    """

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    market_id: uuid.UUID
    category_id: int | None

    id = fields.UUIDField(primary_key=True)
    market: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.Market", related_name="products", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(ProductKind, max_length=16, default=ProductKind.good)
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    price = fields.DecimalField(max_digits=18, decimal_places=2)
    compare_at_price = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    currency = fields.CharField(max_length=3)
    stock = fields.IntField(default=0)
    reserved = fields.IntField(default=0)
    status = fields.CharEnumField(ProductStatus, max_length=16, default=ProductStatus.draft)
    images: fields.JSONField[list[str]] = fields.JSONField(default=list)
    keywords: fields.JSONField[list[str]] = fields.JSONField(default=list)
    category: fields.ForeignKeyNullableRelation[Model] = fields.ForeignKeyField(
        "asoud.Category", related_name="products", null=True, on_delete=fields.SET_NULL
    )
    translations: fields.JSONField[dict[str, dict[str, str]]] = fields.JSONField(
        default=dict, description="lang -> {name, description}"
    )
    search_text = fields.TextField(default="", description="every language's words, for search")
    # PostgreSQL keeps this in step with search_text by trigger (migration 0002); GIN-indexed.
    search_vector = TSVectorField(null=True)
    sales_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "catalog_product"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (
            ("market_id", "status", "created_at"),
            ("status", "created_at"),
            ("category_id",),
        )
        # The last line of defence against oversell: no code path can hold more than exists.
        constraints = (
            CheckConstraint(
                check="reserved >= 0 AND reserved <= stock",
                name="catalog_product_reserved_within_stock",
            ),
        )
