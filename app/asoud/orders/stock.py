"""Stock holds for orders: reserve, take (confirm), release, and expiry of old holds.

Every change is a conditional UPDATE on the product row: two buyers cannot both take the
last unit, and ``stock - reserved`` never goes below zero. Rows are touched in product-id
order, so concurrent orders of the same products cannot deadlock. Call these inside the
caller's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.expressions import F

from asoud.catalog.models import Product
from asoud.orders.models import Order, OrderLine, StockState
from asoud.platform.errors import Conflict


def _by_product(lines: list[OrderLine]) -> list[tuple[str, int, str]]:
    totals: dict[str, tuple[int, str]] = {}
    for line in lines:
        pid = str(line.product_id)
        quantity, name = totals.get(pid, (0, line.name))
        totals[pid] = (quantity + line.quantity, name)
    return [(pid, q, name) for pid, (q, name) in sorted(totals.items())]


async def reserve(order: Order, lines: list[OrderLine], until: datetime) -> list[str]:
    """Hold the units; returns the products this left with nothing available (for caches)."""
    for product_id, quantity, name in _by_product(lines):
        held = await Product.filter(id=product_id, stock__gte=F("reserved") + quantity).update(
            reserved=F("reserved") + quantity
        )
        if not held:
            product = await Product.get(id=product_id)
            available = max(0, product.stock - product.reserved)
            raise Conflict(
                "insufficient_stock",
                product=name,
                available=available,
                extra={"product_id": product_id, "available": available},
            )
    order.stock_state = StockState.reserved
    order.reserved_until = until
    ids = [product_id for product_id, _, _ in _by_product(lines)]
    sold_out = await Product.filter(id__in=ids, stock__lte=F("reserved")).values_list(
        "id", flat=True
    )
    return [str(product_id) for product_id in sold_out]


async def take(order: Order, lines: list[OrderLine]) -> None:
    """The held units leave the stock for good (payment captured, cash order accepted)."""
    if order.stock_state is not StockState.reserved:
        raise Conflict("conflict")
    for product_id, quantity, _ in _by_product(lines):
        await Product.filter(id=product_id, reserved__gte=quantity).update(
            stock=F("stock") - quantity,
            reserved=F("reserved") - quantity,
            sales_count=F("sales_count") + quantity,
        )
    order.stock_state = StockState.taken
    order.reserved_until = None


async def release(order: Order, lines: list[OrderLine]) -> None:
    if order.stock_state is not StockState.reserved:
        return  # idempotent: nothing held
    for product_id, quantity, _ in _by_product(lines):
        await Product.filter(id=product_id, reserved__gte=quantity).update(
            reserved=F("reserved") - quantity
        )
    order.stock_state = StockState.released
    order.reserved_until = None


def now() -> datetime:
    return datetime.now(UTC)
