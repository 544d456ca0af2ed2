"""Category tree as clients see it (names in the caller's language), and as staff edit it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from asoud.platform.money import Money, MoneyIn
from asoud.platform.patch import absent

CategoryId = Annotated[int, Field(ge=1, le=2_147_483_647)]
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
Slug = Annotated[
    str, Field(min_length=1, max_length=80, pattern=SLUG.pattern, examples=["books-new"])
]
Name = Annotated[str, Field(min_length=1, max_length=80)]
Position = Annotated[int, Field(ge=0, le=10_000)]


class CategoryNode(BaseModel):
    id: int
    slug: str
    name: str
    level: int
    subscription_fee: Money | None = None
    children: list[CategoryNode] = []


class CategoryTree(BaseModel):
    items: list[CategoryNode]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CategoryNames(_Strict):
    """The name in each of the platform's four languages: a category is shown to everyone."""

    en: Name
    fa: Name
    ar: Name
    tr: Name


class CategoryNamesPatch(_Strict):
    en: Name = absent()
    fa: Name = absent()
    ar: Name = absent()
    tr: Name = absent()


class CategoryCreate(_Strict):
    slug: Slug
    names: CategoryNames
    parent_id: CategoryId | None = Field(
        default=None, description="none for a group (level 1); a leaf is on level 3"
    )
    subscription_fee: MoneyIn | None = Field(
        default=None, description="what a market in this leaf pays (leaves only)"
    )
    position: Position = 0


class CategoryPatch(_Strict):
    """Rename (some or all languages), move under another parent of the same level, set or
    clear (null) a leaf's fee, or reorder."""

    slug: Slug = absent()
    names: CategoryNamesPatch = absent()
    parent_id: CategoryId = absent()
    subscription_fee: MoneyIn | None = None
    position: Position = absent()


class CategoryAdmin(BaseModel):
    id: int
    slug: str
    names: dict[str, str]
    level: int
    parent_id: int | None
    subscription_fee: Money | None
    position: int
    retired_at: datetime | None


class CategoryAdminList(BaseModel):
    items: list[CategoryAdmin] = Field(description="every category, retired ones too, by level")


class ImportNode(_Strict):
    slug: Slug
    names: CategoryNames
    subscription_fee: MoneyIn | None = None
    position: Position | None = None
    children: list[ImportNode] = Field(default=[], max_length=1000)


class CategoryImport(_Strict):
    """A tree of groups > categories > leaves: each slug is created or updated (names, fee,
    position, parent); nothing is deleted or retired. All or nothing."""

    items: list[ImportNode] = Field(min_length=1, max_length=1000)


class ImportReport(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: int
