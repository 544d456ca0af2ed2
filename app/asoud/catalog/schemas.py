"""Request and response bodies of the catalogue API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from asoud.catalog.models import ProductKind, ProductStatus
from asoud.platform.money import MAX_AMOUNT, Amount, Money
from asoud.platform.patch import absent
from asoud.platform.references import ImageRef
from asoud.taxonomy.schemas import CategoryId

Language = Literal["en", "fa", "ar", "tr"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Translation(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)


class _ProductFields(_Strict):
    # Explicit null is refused where the column cannot be empty (typed without None, only
    # defaulting to it when left out); compare_at_price and category_id may be cleared.
    kind: ProductKind = absent()
    name: str = absent(min_length=1, max_length=200)
    description: str = absent(max_length=5000)
    price: Amount = absent()
    compare_at_price: Amount | None = None
    stock: int = absent(ge=0, le=10_000_000)
    images: list[ImageRef] = absent(max_length=10)
    keywords: list[Annotated[str, Field(min_length=1, max_length=50)]] = absent(max_length=20)
    category_id: CategoryId | None = None
    translations: dict[Language, Translation] = absent()


class ProductCreate(_ProductFields):
    kind: ProductKind = ProductKind.good
    name: str = Field(min_length=1, max_length=200)
    price: Amount
    stock: int = Field(default=0, ge=0, le=10_000_000)


class ProductPatch(_ProductFields):
    status: Literal["draft", "archived"] = absent(
        description="owners may withdraw or archive; publishing is staff's"
    )


class ProductPublic(BaseModel):
    """What customers see: no stock counts, reservations or moderation state."""

    id: UUID
    market_id: UUID
    kind: ProductKind
    name: str
    description: str
    price: Money
    compare_at_price: Money | None
    in_stock: bool
    images: list[str]
    keywords: list[str]
    category_id: int | None
    created_at: datetime


class ProductOwnerView(ProductPublic):
    status: ProductStatus
    stock: int
    reserved: int
    sales_count: int
    translations: dict[str, dict[str, str]]
    updated_at: datetime


Sort = Literal["relevance", "newest", "price_asc", "price_desc", "popular"]


class ProductListQuery(_Strict):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)
    q: str | None = Field(default=None, min_length=1, max_length=100)
    category_id: CategoryId | None = None
    min_price: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False)
    max_price: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT, allow_inf_nan=False)
    in_stock: bool | None = None
    sort: Sort | None = Field(
        default=None,
        description="relevance (the default with q; newest without: nothing to rank by), "
        "newest, price_asc, price_desc or popular",
    )

    def ordering(self) -> str:
        """The order applied: relevance needs words to rank by."""
        if self.sort is None or self.sort == "relevance":
            return "relevance" if self.q else "newest"
        return self.sort


class ProductPage(BaseModel):
    items: list[ProductPublic]
    next_cursor: str | None


class OwnerProductPage(BaseModel):
    items: list[ProductOwnerView]
    next_cursor: str | None


class AdminProductQuery(_Strict):
    """Drafts waiting for staff by default, longest waiting first."""

    status: Literal["draft", "published", "archived"] = "draft"
    market_id: UUID | None = None
    q: str | None = Field(default=None, max_length=100, description="in the name")
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)
