"""HTTP routes of the taxonomy."""

from __future__ import annotations

from typing import Any

from asoud.platform.http import Api, Call
from asoud.platform.i18n import current_language
from asoud.taxonomy.schemas import CategoryTree
from asoud.taxonomy.services import category_tree

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
    items = await category_tree(call.platform, current_language.get())
    return CategoryTree.model_validate({"items": items})
