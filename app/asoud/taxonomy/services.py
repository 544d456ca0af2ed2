"""Reading the taxonomy (cached per language) and checking category references."""

from __future__ import annotations

from typing import Any

from asoud.platform.errors import field_error
from asoud.platform.i18n import DEFAULT_LANGUAGE
from asoud.platform.money import money
from asoud.runtime import Platform
from asoud.taxonomy.models import Category
from asoud.taxonomy.schemas import CategoryNode

CACHE = "taxonomy"
TTL_SECONDS = 3600
LEAF_LEVEL = 3


def localised(names: dict[str, str], language: str) -> str:
    return names.get(language) or names.get(DEFAULT_LANGUAGE) or next(iter(names.values()), "")


async def category_tree(platform: Platform, language: str) -> list[dict[str, Any]]:
    async def load() -> list[dict[str, Any]]:
        rows = await Category.all().order_by("level", "position", "id")  # one query
        nodes: dict[int, CategoryNode] = {}
        roots: list[CategoryNode] = []
        for row in rows:
            fee = (
                money(row.subscription_fee, row.fee_currency)
                if row.subscription_fee is not None
                else None
            )
            node = CategoryNode(
                id=row.id,
                slug=row.slug,
                name=localised(row.names, language),
                level=row.level,
                subscription_fee=fee,
            )
            nodes[row.id] = node
            parent = nodes.get(row.parent_id) if row.parent_id else None
            (parent.children if parent else roots).append(node)
        return [node.model_dump(mode="json") for node in roots]

    result: list[dict[str, Any]] = await platform.cache.get_or_load(
        CACHE, f"tree:{language}", TTL_SECONDS, load
    )
    return result


async def leaf_category(category_id: int, field: str = "body.category_id") -> Category:
    category = await Category.get_or_none(id=category_id)
    code = None
    if category is None:
        code = "unknown_category"
    elif category.level != LEAF_LEVEL:
        code = "not_a_leaf_category"
    if code is not None:
        raise field_error(field, code)
    assert category is not None
    return category
