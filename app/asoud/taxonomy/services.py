"""The category tree: reading it (cached per language), checking references, and the staff's
edits (create, rename, move, fee, retire, import), each of which drops the cached tree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from asoud.platform.database import save_changes
from asoud.platform.errors import Conflict, NotFound, field_error, int_id_or_404
from asoud.platform.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES
from asoud.platform.money import MoneyIn, money, validated_amount
from asoud.runtime import Platform
from asoud.taxonomy.models import Category
from asoud.taxonomy.schemas import (
    CategoryAdmin,
    CategoryCreate,
    CategoryImport,
    CategoryNode,
    CategoryPatch,
    ImportNode,
    ImportReport,
)

CACHE = "taxonomy"
TTL_SECONDS = 3600
LEAF_LEVEL = 3


def localised(names: dict[str, str], language: str) -> str:
    return names.get(language) or names.get(DEFAULT_LANGUAGE) or next(iter(names.values()), "")


async def category_tree(platform: Platform, language: str) -> list[dict[str, Any]]:
    """The live tree: a retired category is left out with everything under it."""

    async def load() -> list[dict[str, Any]]:
        rows = await Category.all().order_by("level", "position", "id")  # one query
        nodes: dict[int, CategoryNode] = {}
        roots: list[CategoryNode] = []
        for row in rows:
            if row.retired_at is not None:
                continue
            parent = nodes.get(row.parent_id) if row.parent_id else None
            if row.parent_id and parent is None:  # under a retired category
                continue
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
            (parent.children if parent else roots).append(node)
        return [node.model_dump(mode="json") for node in roots]

    result: list[dict[str, Any]] = await platform.cache.get_or_load(
        CACHE, f"tree:{language}", TTL_SECONDS, load
    )
    return result


async def invalidate_tree(platform: Platform) -> None:
    """Every API process reads the tree from the shared cache: the next reader rebuilds it."""
    await platform.cache.delete_many(CACHE, [f"tree:{lang}" for lang in SUPPORTED_LANGUAGES])


async def _retired(category: Category) -> bool:
    """Retired itself or under a retired category (at most two ancestors)."""
    while category is not None:
        if category.retired_at is not None:
            return True
        if category.parent_id is None:
            return False
        category = await Category.get(id=category.parent_id)
    return False


async def leaf_category(category_id: int, field: str = "body.category_id") -> Category:
    """A live third-level category, for a market to be filed under."""
    category = await Category.get_or_none(id=category_id)
    code = None
    if category is None:
        code = "unknown_category"
    elif category.level != LEAF_LEVEL:
        code = "not_a_leaf_category"
    elif await _retired(category):
        code = "retired_category"
    if code is not None:
        raise field_error(field, code)
    assert category is not None
    return category


# --- staff edits -------------------------------------------------------------------------


def admin_view(category: Category) -> CategoryAdmin:
    return CategoryAdmin(
        id=category.id,
        slug=category.slug,
        names=category.names,
        level=category.level,
        parent_id=category.parent_id,
        subscription_fee=money(category.subscription_fee, category.fee_currency)
        if category.subscription_fee is not None
        else None,
        position=category.position,
        retired_at=category.retired_at,
    )


async def all_categories() -> list[Category]:
    return await Category.all().order_by("level", "position", "id")


async def category_by_id(category_id: object) -> Category:
    category = await Category.get_or_none(id=int_id_or_404(category_id))
    if category is None:
        raise NotFound()
    return category


async def category_by_slug(slug: str) -> Category:
    category = await Category.get_or_none(slug=slug)
    if category is None:
        raise NotFound()
    return category


async def _parent(parent_id: int, field: str) -> Category:
    """A live group or category that can take children."""
    parent = await Category.get_or_none(id=parent_id)
    if parent is None:
        raise field_error(field, "unknown_category")
    if await _retired(parent):
        raise field_error(field, "retired_category")
    if parent.level >= LEAF_LEVEL:
        raise field_error(field, "leaf_cannot_have_children")
    return parent


def _fee(level: int, fee: MoneyIn | None, field: str) -> tuple[Decimal | None, str | None]:
    """Only a leaf carries the fee a market in it pays."""
    if fee is None:
        return None, None
    if level != LEAF_LEVEL:
        raise field_error(field, "fee_only_on_leaves")
    return validated_amount(fee, field), fee.currency


async def _slug_free(slug: str) -> None:
    if await Category.exists(slug=slug):
        raise Conflict("category_slug_taken", slug=slug, extra={"slug": slug})


async def create_category(platform: Platform, data: CategoryCreate) -> Category:
    parent = await _parent(data.parent_id, "body.parent_id") if data.parent_id else None
    level = parent.level + 1 if parent else 1
    amount, currency = _fee(level, data.subscription_fee, "body.subscription_fee")
    await _slug_free(data.slug)
    try:
        category = await Category.create(
            slug=data.slug,
            names=data.names.model_dump(),
            parent_id=parent.id if parent else None,
            level=level,
            subscription_fee=amount,
            fee_currency=currency or "IRT",
            position=data.position,
        )
    except IntegrityError:  # the same slug created concurrently
        raise Conflict("category_slug_taken", slug=data.slug, extra={"slug": data.slug}) from None
    await invalidate_tree(platform)
    return category


async def update_category(platform: Platform, category: Category, data: CategoryPatch) -> Category:
    """Rename, move (under a parent of the same level: a leaf stays a leaf, so the markets
    filed under it stay valid), set or clear the fee, reorder."""
    sent = data.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    if "slug" in sent and data.slug != category.slug:
        await _slug_free(data.slug)
        changes["slug"] = data.slug
    if "names" in sent:
        changes["names"] = {**category.names, **data.names.model_dump(exclude_unset=True)}
    if "parent_id" in sent and data.parent_id != category.parent_id:
        parent = await _parent(data.parent_id, "body.parent_id")
        if category.level == 1 or parent.level + 1 != category.level:
            raise Conflict("category_level_fixed", extra={"level": category.level})
        changes["parent_id"] = parent.id
    if "subscription_fee" in sent:
        amount, currency = _fee(category.level, data.subscription_fee, "body.subscription_fee")
        changes["subscription_fee"] = amount
        if currency is not None:
            changes["fee_currency"] = currency
    if "position" in sent:
        changes["position"] = data.position
    try:
        await save_changes(category, changes)
    except IntegrityError:
        raise Conflict("category_slug_taken", slug=data.slug, extra={"slug": data.slug}) from None
    if changes:
        await invalidate_tree(platform)
    return category


async def retire_category(platform: Platform, category: Category) -> Category:
    if category.retired_at is None:
        await save_changes(category, {"retired_at": datetime.now(UTC)})
        await invalidate_tree(platform)
    return category


async def restore_category(platform: Platform, category: Category) -> Category:
    if category.retired_at is not None:
        await save_changes(category, {"retired_at": None})
        await invalidate_tree(platform)
    return category


@dataclass
class _Planned:
    node: ImportNode
    parent_slug: str | None
    level: int
    position: int


def _plan(data: CategoryImport) -> list[_Planned]:
    """Parents before children; depth, duplicate slugs and fees checked before any write."""
    planned: list[_Planned] = []
    seen: set[str] = set()

    def walk(nodes: list[ImportNode], parent: str | None, level: int, path: str) -> None:
        for index, node in enumerate(nodes):
            where = f"{path}[{index}]"
            if level > LEAF_LEVEL:
                raise field_error(where, "tree_too_deep")
            if node.slug in seen:
                raise field_error(f"{where}.slug", "duplicate_slug")
            seen.add(node.slug)
            _fee(level, node.subscription_fee, f"{where}.subscription_fee")
            position = node.position if node.position is not None else index
            planned.append(_Planned(node, parent, level, position))
            walk(node.children, node.slug, level + 1, f"{where}.children")

    walk(data.items, None, 1, "body.items")
    return planned


async def import_categories(platform: Platform, data: CategoryImport) -> ImportReport:
    """Create or update every slug of the tree in one transaction; nothing is deleted, and a
    retired category stays retired (restore it explicitly)."""
    planned = _plan(data)
    created: list[str] = []
    updated: list[str] = []
    async with in_transaction():
        by_slug = {
            c.slug: c for c in await Category.filter(slug__in=[p.node.slug for p in planned])
        }
        for item in planned:
            node = item.node
            parent = by_slug[item.parent_slug] if item.parent_slug else None
            amount, currency = _fee(item.level, node.subscription_fee, "body.items")
            wanted: dict[str, Any] = {
                "names": node.names.model_dump(),
                "parent_id": parent.id if parent else None,
                "position": item.position,
                "subscription_fee": amount,
                "fee_currency": currency or "IRT",
            }
            existing = by_slug.get(node.slug)
            if existing is None:
                by_slug[node.slug] = await Category.create(
                    slug=node.slug, level=item.level, **wanted
                )
                created.append(node.slug)
                continue
            if existing.level != item.level:
                raise Conflict(
                    "category_level_fixed", extra={"slug": node.slug, "level": existing.level}
                )
            if existing.subscription_fee is None and amount is None:
                wanted.pop("fee_currency")
            changes = {
                name: value for name, value in wanted.items() if getattr(existing, name) != value
            }
            if changes:
                await save_changes(existing, changes)
                updated.append(node.slug)
    if created or updated:
        await invalidate_tree(platform)
    return ImportReport(
        created=created, updated=updated, unchanged=len(planned) - len(created) - len(updated)
    )
