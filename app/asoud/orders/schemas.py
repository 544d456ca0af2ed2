"""Request and response bodies of carts, checkout and orders."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from asoud.orders.models import OrderStatus, PaymentMethod
from asoud.platform.money import Money


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CartItemIn(_Strict):
    product_id: UUID
    quantity: int = Field(default=1, ge=1, le=1000)


class CartItemPatch(_Strict):
    quantity: int = Field(ge=1, le=1000)


class CartLine(BaseModel):
    id: int
    product_id: UUID
    name: str
    unit_price: Money
    quantity: int
    line_total: Money
    available: bool = Field(description="the quantity can still be bought")


class CartOut(BaseModel):
    market_id: UUID
    items: list[CartLine]
    subtotal: Money


class Carts(BaseModel):
    items: list[CartOut]


class LineNotRestored(BaseModel):
    product_id: UUID
    code: str = Field(description="why: not_found (no longer sold), insufficient_stock ...")


class CartRestored(BaseModel):
    """The order's lines back in the cart at today's prices, except those that cannot be."""

    cart: CartOut | None
    not_restored: list[LineNotRestored]


class CheckoutIn(_Strict):
    market_id: UUID
    payment_method: PaymentMethod = PaymentMethod.cash
    discount_code: str | None = Field(default=None, min_length=3, max_length=32)
    note: str = Field(default="", max_length=500)


class OrderLineOut(BaseModel):
    product_id: UUID
    name: str
    unit_price: Money
    quantity: int
    line_total: Money


class OrderOut(BaseModel):
    id: UUID
    market_id: UUID
    status: OrderStatus
    payment_method: PaymentMethod
    subtotal: Money
    discount: Money
    total: Money
    refunded: Money
    discount_code: str | None
    lines: list[OrderLineOut]
    reserved_until: datetime | None
    note: str
    reason: str
    created_at: datetime


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class OrderListQuery(_Strict):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)
    status: OrderStatus | None = None


class RejectIn(_Strict):
    reason: str = Field(min_length=1, max_length=500)
