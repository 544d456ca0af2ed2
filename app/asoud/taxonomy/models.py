"""The three-level category tree. The leaf carries the market subscription fee."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Category(Model):
    """A node of the taxonomy: group (1) > category (2) > subcategory (3)."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    parent_id: int | None

    id = fields.IntField(primary_key=True)
    parent: fields.ForeignKeyNullableRelation[Category] = fields.ForeignKeyField(
        "asoud.Category", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    level = fields.SmallIntField()
    slug = fields.CharField(max_length=80, unique=True)
    names: fields.JSONField[dict[str, str]] = fields.JSONField(
        description="name per language code (en, fa, ar, tr)"
    )
    subscription_fee = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    fee_currency = fields.CharField(max_length=3, default="IRT")
    position = fields.IntField(default=0)
    # Retired: gone from the tree and from new choices (with everything under it); markets and
    # products already in it keep working. Restoring brings it back as it was.
    retired_at = fields.DatetimeField(null=True)

    class Meta:
        table = "taxonomy_category"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("parent_id",),)
