"""HTTP routes of the taxonomy."""

from __future__ import annotations

from typing import Any

from asoud.platform.http import Api, Auth, Call
from asoud.platform.i18n import current_language
from asoud.taxonomy import services
from asoud.taxonomy.schemas import (
    CategoryAdmin,
    CategoryAdminList,
    CategoryCreate,
    CategoryImport,
    CategoryPatch,
    CategoryTree,
    ImportReport,
)

api = Api()


@api.endpoint(
    "GET",
    "/api/v1/categories",
    summary="The category tree",
    tags=["catalogue"],
    responses={200: CategoryTree},
)
async def list_categories(call: Call[Any, Any]) -> CategoryTree:
    """Three levels; the leaves carry the monthly subscription fee of a market."""
    items = await services.category_tree(call.platform, current_language.get())
    return CategoryTree.model_validate({"items": items})


@api.endpoint(
    "GET",
    "/api/v1/admin/categories",
    summary="Every category with all its names, retired ones too",
    tags=["admin"],
    auth=Auth.staff,
    responses={200: CategoryAdminList},
)
async def admin_list_categories(call: Call[Any, Any]) -> CategoryAdminList:
    return CategoryAdminList(
        items=[services.admin_view(c) for c in await services.all_categories()]
    )


@api.endpoint(
    "POST",
    "/api/v1/admin/categories",
    summary="Create a category",
    tags=["admin"],
    auth=Auth.staff,
    body=CategoryCreate,
    responses={201: CategoryAdmin},
    errors=[409],
)
async def admin_create_category(call: Call[CategoryCreate, Any]) -> CategoryAdmin:
    """A group without `parent_id`, a category under a group, a leaf (level 3, the one markets
    are filed under and that carries the subscription fee) under a category. Names in all four
    languages. The public tree shows it at once."""
    return services.admin_view(await services.create_category(call.platform, call.body))


@api.endpoint(
    "PATCH",
    "/api/v1/admin/categories/{category_id}",
    summary="Rename, move, set the fee of, or reorder a category",
    tags=["admin"],
    auth=Auth.staff,
    body=CategoryPatch,
    responses={200: CategoryAdmin},
    errors=[404, 409],
)
async def admin_update_category(call: Call[CategoryPatch, Any]) -> CategoryAdmin:
    """A move keeps the level (a leaf moves under another category, a category under another
    group), so markets filed under a leaf stay valid. `subscription_fee: null` clears it."""
    category = await services.category_by_id(call.path["category_id"])
    return services.admin_view(await services.update_category(call.platform, category, call.body))


@api.endpoint(
    "POST",
    "/api/v1/admin/categories/{category_id}/retire",
    summary="Retire a category (and what is under it) from the tree",
    tags=["admin"],
    auth=Auth.staff,
    responses={200: CategoryAdmin},
    errors=[404],
)
async def admin_retire_category(call: Call[Any, Any]) -> CategoryAdmin:
    """New markets cannot choose it; markets and products already in it keep working."""
    category = await services.category_by_id(call.path["category_id"])
    return services.admin_view(await services.retire_category(call.platform, category))


@api.endpoint(
    "POST",
    "/api/v1/admin/categories/{category_id}/restore",
    summary="Bring a retired category back",
    tags=["admin"],
    auth=Auth.staff,
    responses={200: CategoryAdmin},
    errors=[404],
)
async def admin_restore_category(call: Call[Any, Any]) -> CategoryAdmin:
    category = await services.category_by_id(call.path["category_id"])
    return services.admin_view(await services.restore_category(call.platform, category))


@api.endpoint(
    "POST",
    "/api/v1/admin/categories/import",
    summary="Create or update a whole tree (by slug)",
    tags=["admin"],
    auth=Auth.staff,
    body=CategoryImport,
    responses={200: ImportReport},
    errors=[409],
)
async def admin_import_categories(call: Call[CategoryImport, Any]) -> ImportReport:
    """The JSON form of `asoud categories import FILE`: all or nothing, nothing deleted."""
    return await services.import_categories(call.platform, call.body)
