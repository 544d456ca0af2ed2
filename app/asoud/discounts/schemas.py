"""Request and response bodies of discount codes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from asoud.discounts.models import DiscountKind
from asoud.platform.money import Money, PositiveAmount
from asoud.platform.patch import absent


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# A percentage is 1 to 100 with up to 2 decimals; stated in the schema as well.
PERCENTAGE = r"^(?:100(?:\.0{1,2})?|[1-9][0-9]?(?:\.[0-9]{1,2})?)$"
_PERCENTAGE_RULE: JsonDict = {
    "if": {"properties": {"kind": {"const": DiscountKind.percentage.value}}},
    "then": {"properties": {"value": {"pattern": PERCENTAGE}}},
}


class DiscountCreate(_Strict):
    model_config = ConfigDict(json_schema_extra=_PERCENTAGE_RULE)

    kind: DiscountKind
    value: PositiveAmount = Field(
        description="percentage 1-100, or an amount in the market's currency"
    )
    product_id: UUID | None = Field(default=None, description="only this product's lines")
    expires_at: datetime | None = None
    usage_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    allowed_phones: list[str] = Field(
        default=[], max_length=1000, description="if set, only these customers may use it"
    )

    @model_validator(mode="after")
    def _percentage(self) -> DiscountCreate:
        if self.kind is DiscountKind.percentage and not (Decimal(1) <= self.value <= Decimal(100)):
            raise ValueError("invalid_percentage")
        if self.value <= 0:
            raise ValueError("invalid_amount")
        return self


class DiscountPatch(_Strict):
    active: bool = absent()
    expires_at: datetime | None = Field(default=None, description="null: never expires")
    usage_limit: int | None = Field(default=None, ge=1, le=1_000_000, description="null: no limit")


class DiscountOut(BaseModel):
    id: UUID
    code: str
    kind: DiscountKind
    value: str
    product_id: UUID | None
    expires_at: datetime | None
    usage_limit: int | None
    used: int
    reserved: int
    active: bool
    restricted: bool


class DiscountList(BaseModel):
    items: list[DiscountOut]


class ValidateIn(_Strict):
    market_id: UUID
    code: str = Field(min_length=3, max_length=32)


class ValidateOut(BaseModel):
    code: str
    subtotal: Money
    discount: Money
    total: Money
