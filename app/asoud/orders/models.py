"""Carts (one per customer and market), orders with frozen prices, and their lines."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Cart(Model):
    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    user_id: uuid.UUID
    market_id: uuid.UUID
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.User", related_name="carts", on_delete=fields.CASCADE
    )
    market: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.Market", related_name="carts", on_delete=fields.CASCADE
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "orders_cart"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("market_id",),)
        unique_together = (("user", "market"),)


class CartItem(Model):
    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    cart_id: int
    product_id: uuid.UUID
    id = fields.IntField(primary_key=True)
    cart: fields.ForeignKeyRelation[Cart] = fields.ForeignKeyField(
        "asoud.Cart", related_name="items", on_delete=fields.CASCADE
    )
    product: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.Product", related_name="cart_items", on_delete=fields.CASCADE
    )
    quantity = fields.IntField()

    class Meta:
        table = "orders_cart_item"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("product_id",),)
        unique_together = (("cart", "product"),)


class OrderStatus(StrEnum):
    pending = "pending"
    processing = "processing"
    paid = "paid"
    fulfilled = "fulfilled"
    completed = "completed"
    rejected = "rejected"
    failed = "failed"
    cancelled = "cancelled"
    refunded = "refunded"


class PaymentMethod(StrEnum):
    cash = "cash"
    online = "online"


class StockState(StrEnum):
    none = "none"  # nothing held
    reserved = "reserved"  # held until confirmed, released or expired
    taken = "taken"  # left the stock for good
    released = "released"


class Order(Model):
    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    user_id: uuid.UUID
    market_id: uuid.UUID
    discount_id: uuid.UUID | None
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.User", related_name="orders", on_delete=fields.RESTRICT
    )
    market: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.Market", related_name="orders", on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(OrderStatus, max_length=16, default=OrderStatus.pending)
    payment_method = fields.CharEnumField(PaymentMethod, max_length=16)
    currency = fields.CharField(max_length=3)
    subtotal = fields.DecimalField(max_digits=18, decimal_places=2)
    discount_amount = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    refunded_amount = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    total = fields.DecimalField(max_digits=18, decimal_places=2)
    discount: fields.ForeignKeyNullableRelation[Model] = fields.ForeignKeyField(
        "asoud.Discount", related_name="orders", null=True, on_delete=fields.RESTRICT
    )
    stock_state = fields.CharEnumField(StockState, max_length=16, default=StockState.none)
    reserved_until = fields.DatetimeField(null=True, db_index=True)
    idempotency_key = fields.CharField(max_length=64, null=True)
    note = fields.CharField(max_length=500, default="")
    reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "orders_order"
        unique_together = (("user", "idempotency_key"),)
        # every foreign key is indexed (look-ups and cascades)
        # the buyer's unpaid orders in a market are counted at each checkout (hold caps)
        indexes = (
            ("user_id", "created_at"),
            ("market_id", "created_at"),
            ("discount_id",),
            ("user_id", "market_id", "status"),
        )


class OrderLine(Model):
    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    order_id: uuid.UUID
    product_id: uuid.UUID
    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "asoud.Order", related_name="lines", on_delete=fields.CASCADE
    )
    product: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.Product", related_name="order_lines", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    unit_price = fields.DecimalField(max_digits=18, decimal_places=2)
    quantity = fields.IntField()
    line_total = fields.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        table = "orders_order_line"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("order_id",), ("product_id",))
