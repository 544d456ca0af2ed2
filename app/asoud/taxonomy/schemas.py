"""Category tree as clients see it (names in the caller's language)."""

from __future__ import annotations

from pydantic import BaseModel

from asoud.platform.money import Money


class CategoryNode(BaseModel):
    id: int
    slug: str
    name: str
    level: int
    subscription_fee: Money | None = None
    children: list[CategoryNode] = []


class CategoryTree(BaseModel):
    items: list[CategoryNode]
