"""Category tree as clients see it (names in the caller's language)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from asoud.platform.money import Money

CategoryId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class CategoryNode(BaseModel):
    id: int
    slug: str
    name: str
    level: int
    subscription_fee: Money | None = None
    children: list[CategoryNode] = []


class CategoryTree(BaseModel):
    items: list[CategoryNode]
