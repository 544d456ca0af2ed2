"""Stock holds for orders: reserve, take (confirm), release, and expiry of old holds.

Every change is a conditional UPDATE on the product row: two buyers cannot both take the
last unit, and ``stock - reserved`` never goes below zero. Rows are touched in product-id
order, so concurrent orders of the same products cannot deadlock. Call these inside the
caller's transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tortoise.expressions import F

from asoud.catalog.models import Product
from asoud.orders.models import Order, OrderLine, StockState
from asoud.platform.database import fetch_sql, on_postgres
from asoud.platform.errors import Conflict


def _by_product(lines: list[OrderLine]) -> list[tuple[str, int, str]]:
    totals: dict[str, tuple[int, str]] = {}
    for line in lines:
        pid = str(line.product_id)
        quantity, name = totals.get(pid, (0, line.name))
        totals[pid] = (quantity + line.quantity, name)
    return [(pid, q, name) for pid, (q, name) in sorted(totals.items())]


# Hold units only while enough are free, and say in the same round trip whether the hold
# left none (the catalogue then drops that product's pages).
_RESERVE_SQL = (
    'UPDATE "catalog_product" SET "reserved" = "reserved" + $1 '
    'WHERE "id" = $2 AND "stock" >= "reserved" + $1 '
    'RETURNING "stock" <= "reserved" AS "sold_out"'
)


# Several products in one statement (PostgreSQL): the rows are locked in id order first, as
# the one-by-one loop does, so concurrent checkouts of overlapping carts cannot deadlock; a
# product without enough free units is simply missing from what comes back.
_RESERVE_MANY_SQL = (
    'WITH wanted AS (SELECT * FROM unnest($1::uuid[], $2::int[]) AS w("id", "quantity")), '
    'locked AS MATERIALIZED (SELECT p."id" FROM "catalog_product" p '
    'JOIN wanted w ON w."id" = p."id" ORDER BY p."id" FOR UPDATE OF p) '
    'UPDATE "catalog_product" p SET "reserved" = p."reserved" + w."quantity" '
    'FROM wanted w JOIN locked l ON l."id" = w."id" '
    'WHERE p."id" = w."id" AND p."stock" >= p."reserved" + w."quantity" '
    'RETURNING p."id" AS "id", p."stock" <= p."reserved" AS "sold_out"'
)


async def reserve(order: Order, lines: list[OrderLine], until: datetime) -> list[str]:
    """Hold the units; returns the products this left with nothing available (for caches).

    One statement whatever the cart's size on PostgreSQL, so checkout keeps a constant query
    budget; one per product elsewhere (the embedded SQLite)."""
    wanted = _by_product(lines)
    if len(wanted) > 1 and on_postgres():
        rows = await fetch_sql(
            _RESERVE_MANY_SQL,
            [[uuid.UUID(pid) for pid, _, _ in wanted], [q for _, q, _ in wanted]],
        )
        held = {str(row["id"]): bool(row["sold_out"]) for row in rows}
    else:
        held = {}
        for product_id, quantity, _ in wanted:
            found = await fetch_sql(_RESERVE_SQL, [quantity, uuid.UUID(product_id)])
            if not found:
                break
            held[product_id] = bool(found[0]["sold_out"])
    for product_id, _, name in wanted:
        if product_id not in held:  # the caller's transaction rolls back what was held
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
    return [product_id for product_id, sold_out in held.items() if sold_out]


class StockLedgerMismatch(RuntimeError):
    """An order's hold is not on its product row: a bug or a hand edit, never normal.

    Raised inside the caller's transaction so nothing of the action is committed; the
    request fails with a 500 and the error is logged and sent to Sentry."""


# Taking or giving back several products in one statement (PostgreSQL), rows locked in id
# order first like reserve; a product whose row does not hold the units is missing from what
# comes back.
_MOVE_MANY_SQL = (
    'WITH wanted AS (SELECT * FROM unnest($1::uuid[], $2::int[]) AS w("id", "quantity")), '
    'locked AS MATERIALIZED (SELECT p."id" FROM "catalog_product" p '
    'JOIN wanted w ON w."id" = p."id" ORDER BY p."id" FOR UPDATE OF p) '
    'UPDATE "catalog_product" p SET "reserved" = p."reserved" - w."quantity", '
    '"stock" = p."stock" - CASE WHEN $3 THEN w."quantity" ELSE 0 END, '
    '"sales_count" = p."sales_count" + CASE WHEN $3 THEN w."quantity" ELSE 0 END '
    'FROM wanted w JOIN locked l ON l."id" = w."id" '
    'WHERE p."id" = w."id" AND p."reserved" >= w."quantity" '
    'AND (NOT $3 OR p."stock" >= w."quantity") RETURNING p."id" AS "id"'
)


async def _move(order: Order, lines: list[OrderLine], *, taken: bool) -> None:
    """Held units leave the stock (``taken``) or become available again; either way the
    hold must be on the product rows, or nothing moves."""
    wanted = _by_product(lines)
    if len(wanted) > 1 and on_postgres():
        rows = await fetch_sql(
            _MOVE_MANY_SQL,
            [[uuid.UUID(pid) for pid, _, _ in wanted], [q for _, q, _ in wanted], taken],
        )
        missing = {pid for pid, _, _ in wanted} - {str(row["id"]) for row in rows}
        if missing:  # the caller's transaction rolls back what did move
            raise StockLedgerMismatch(
                f"order {order.id}: products {sorted(missing)} do not hold it"
            )
        return
    for product_id, quantity, _ in wanted:
        if taken:
            moved = await Product.filter(
                id=product_id, reserved__gte=quantity, stock__gte=quantity
            ).update(
                stock=F("stock") - quantity,
                reserved=F("reserved") - quantity,
                sales_count=F("sales_count") + quantity,
            )
        else:
            moved = await Product.filter(id=product_id, reserved__gte=quantity).update(
                reserved=F("reserved") - quantity
            )
        if not moved:
            raise StockLedgerMismatch(f"order {order.id}: product {product_id} does not hold it")


async def take(order: Order, lines: list[OrderLine]) -> None:
    """The held units leave the stock for good (payment captured, cash order accepted)."""
    if order.stock_state is not StockState.reserved:
        raise Conflict("conflict")
    await _move(order, lines, taken=True)
    order.stock_state = StockState.taken
    order.reserved_until = None


async def release(order: Order, lines: list[OrderLine]) -> None:
    if order.stock_state is not StockState.reserved:
        return  # idempotent: nothing held
    await _move(order, lines, taken=False)
    order.stock_state = StockState.released
    order.reserved_until = None


def now() -> datetime:
    return datetime.now(UTC)
