"""Carts: one per customer and market; quantities merge; availability is checked on add."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tortoise.transactions import in_transaction

from asoud.catalog.models import Product, ProductStatus
from asoud.identity.models import User
from asoud.markets.access import can_view_storefront
from asoud.markets.models import Market, MarketStatus
from asoud.orders.models import Cart, CartItem
from asoud.orders.schemas import CartLine, CartOut
from asoud.platform.database import SelectModels, fetch_sql, model_of, on_postgres
from asoud.platform.errors import Conflict, NotFound, int_id_or_404, uuid_or_404
from asoud.platform.money import MAX_AMOUNT, money

# The product with its market, as whole models, in one prepared statement: building the ORM's
# select_related query was most of add-to-cart's CPU (py-spy). Column names come from the
# models.
_PRODUCT_WITH_MARKET = SelectModels(
    'FROM "catalog_product" p JOIN "markets_market" m ON m."id" = p."market_id" WHERE p."id" = $1',
    (Product, "p"),
    (Market, "m"),
    omit=frozenset({"search_vector"}),
)


async def sellable_product(user: User, product_id: object) -> Product:
    """A published product of a published market the buyer may see; anything else is the
    same 404 as an unknown id (a draft's existence is the owner's business)."""
    rows = await _PRODUCT_WITH_MARKET.fetch([uuid_or_404(product_id)])
    if not rows:
        raise NotFound()
    product, market = model_of(Product, rows[0], "p"), model_of(Market, rows[0], "m")
    product.market = market
    if product.status is not ProductStatus.published or market.status is not MarketStatus.published:
        raise NotFound()
    if not await can_view_storefront(user, market):
        raise NotFound()
    return product


def _available(product: Product) -> int:
    return max(0, product.stock - product.reserved)


def _insufficient_stock(product: Product) -> Conflict:
    available = _available(product)
    return Conflict(
        "insufficient_stock",
        product=product.name,
        available=available,
        extra={"product_id": str(product.id), "available": available},
    )


def _most_affordable(product: Product) -> int:
    """The largest quantity whose line total is still an amount the platform can carry."""
    return int(MAX_AMOUNT // product.price) if product.price > 0 else 10**9


def _check_available(product: Product, quantity: int) -> None:
    if quantity > _most_affordable(product):
        raise Conflict("amount_too_large")
    if quantity > _available(product):
        raise _insufficient_stock(product)


async def _touch(cart_id: int) -> None:
    """Checkout claims a cart only if it did not change since it was read: every edit of its
    lines moves updated_at."""
    await Cart.filter(id=cart_id).update(updated_at=datetime.now(UTC))


# Find-or-create the cart and merge the line in two statements instead of select, savepoint,
# insert, select-for-update, insert/update and touch: add-to-cart is the hottest write.
_TOUCH_CART_SQL = (
    'INSERT INTO "orders_cart" ("user_id", "market_id", "updated_at") VALUES ($1, $2, $3) '
    'ON CONFLICT ("user_id", "market_id") DO UPDATE SET "updated_at" = excluded."updated_at" '
    'RETURNING "id"'
)
# The merged quantity is checked in the statement itself, so two concurrent adds cannot
# together exceed what is available; no row back means the merge was refused.
_MERGE_ITEM_SQL = (
    'INSERT INTO "orders_cart_item" ("cart_id", "product_id", "quantity") VALUES ($1, $2, $3) '
    'ON CONFLICT ("cart_id", "product_id") DO UPDATE '
    'SET "quantity" = "orders_cart_item"."quantity" + excluded."quantity" '
    'WHERE "orders_cart_item"."quantity" + excluded."quantity" <= $4 '
    'RETURNING "quantity"'
)


async def add_item(user: User, product_id: object, quantity: int) -> Cart:
    product = await sellable_product(user, product_id)
    _check_available(product, quantity)
    now = datetime.now(UTC)
    async with in_transaction():  # a refused merge leaves no new or touched cart behind
        rows = await fetch_sql(_TOUCH_CART_SQL, [user.id, product.market_id, now])
        cart_id = rows[0]["id"]
        limit = min(_available(product), _most_affordable(product))
        merged = await fetch_sql(_MERGE_ITEM_SQL, [cart_id, product.id, quantity, limit])
        if not merged:
            if _most_affordable(product) < _available(product):
                raise Conflict("amount_too_large")
            raise _insufficient_stock(product)
    return Cart(id=cart_id, user_id=user.id, market_id=product.market_id, updated_at=now)


async def _own_item(user: User, item_id: str) -> CartItem:
    item = await CartItem.get_or_none(
        id=int_id_or_404(item_id), cart__user_id=user.id
    ).select_related("product")
    if item is None:
        raise NotFound()
    return item


async def set_quantity(user: User, item_id: str, quantity: int) -> Cart:
    item = await _own_item(user, item_id)
    _check_available(item.product, quantity)  # type: ignore[arg-type]
    async with in_transaction():
        item.quantity = quantity
        await item.save(update_fields=["quantity"])
        await _touch(item.cart_id)
    return await Cart.get(id=item.cart_id)


async def remove_item(user: User, item_id: str) -> None:
    item = await _own_item(user, item_id)
    async with in_transaction():
        await item.delete()
        await _touch(item.cart_id)


async def carts_of(user: User, language: str) -> list[CartOut]:
    """All carts with their lines: two queries whatever the number of items."""
    carts = await Cart.filter(user_id=user.id).order_by("-updated_at")
    return await _render(carts, language)


async def cart_of(cart: Cart, language: str) -> CartOut | None:
    """One cart with its lines: one query."""
    rendered = await _render([cart], language)
    return rendered[0] if rendered else None


_ITEMS_WITH_PRODUCTS = SelectModels(
    'FROM "orders_cart_item" i JOIN "catalog_product" p ON p."id" = i."product_id" '
    'WHERE i."cart_id" = ANY($1::int[]) ORDER BY i."id"',
    (CartItem, "i"),
    (Product, "p"),
    omit=frozenset({"search_vector"}),
)


async def _items_with_products(cart_ids: list[int]) -> list[CartItem]:
    if not on_postgres():  # no arrays in SQLite
        return await CartItem.filter(cart_id__in=cart_ids).select_related("product").order_by("id")
    items = []
    for row in await _ITEMS_WITH_PRODUCTS.fetch([cart_ids]):
        item = model_of(CartItem, row, "i")
        item.product = model_of(Product, row, "p")
        items.append(item)
    return items


async def _render(carts: list[Cart], language: str) -> list[CartOut]:
    from asoud.catalog.services import localise

    items = await _items_with_products([c.id for c in carts]) if carts else []
    by_cart: dict[int, list[CartItem]] = {}
    for item in items:
        by_cart.setdefault(item.cart_id, []).append(item)
    result = []
    for cart in carts:
        lines, subtotal, currency = [], Decimal(0), "IRT"
        for item in by_cart.get(cart.id, []):
            product: Product = item.product  # type: ignore[assignment]
            currency = product.currency
            line_total = product.price * item.quantity
            subtotal += line_total
            lines.append(
                CartLine(
                    id=item.id,
                    product_id=product.id,
                    name=localise(product, language)[0],
                    unit_price=money(product.price, currency),
                    quantity=item.quantity,
                    line_total=money(line_total, currency),
                    available=product.status is ProductStatus.published
                    and item.quantity <= product.stock - product.reserved,
                )
            )
        if lines:
            result.append(
                CartOut(
                    market_id=cart.market_id,
                    items=lines,
                    subtotal=money(subtotal, currency),
                )
            )
    return result
