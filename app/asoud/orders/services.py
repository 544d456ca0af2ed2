"""Checkout and the life of an order: holds, owner decisions, cancellation, expiry."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import Counter
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from asoud.catalog import cache as catalog_cache
from asoud.catalog.models import Product, ProductStatus
from asoud.discounts import services as discounts
from asoud.discounts.models import Discount
from asoud.identity.models import User
from asoud.markets.access import can_view_storefront
from asoud.markets.models import Market, MarketStatus
from asoud.notifications.services import event_data, notify_quietly
from asoud.orders import cart as carts
from asoud.orders import stock
from asoud.orders.models import Cart, CartItem, Order, OrderLine, OrderStatus, PaymentMethod
from asoud.orders.schemas import CheckoutIn, LineNotRestored, OrderLineOut, OrderOut
from asoud.orders.state import next_state
from asoud.platform.database import SelectModels, model_of
from asoud.platform.errors import Conflict, DomainError, NotFound
from asoud.platform.money import display, money, within_bounds
from asoud.runtime import Platform

log = logging.getLogger("asoud.orders")
ORDERS = Counter("asoud_orders", "Orders placed and their later states", ["result"])


def view(order: Order, lines: list[OrderLine], discount_code: str | None) -> OrderOut:
    currency = order.currency
    return OrderOut(
        id=order.id,
        market_id=order.market_id,
        status=order.status,
        payment_method=order.payment_method,
        subtotal=money(order.subtotal, currency),
        discount=money(order.discount_amount, currency),
        total=money(order.total, currency),
        refunded=money(order.refunded_amount, currency),
        discount_code=discount_code,
        lines=[
            OrderLineOut(
                product_id=line.product_id,
                name=line.name,
                unit_price=money(line.unit_price, currency),
                quantity=line.quantity,
                line_total=money(line.line_total, currency),
            )
            for line in lines
        ],
        reserved_until=order.reserved_until,
        note=order.note,
        reason=order.reason,
        created_at=order.created_at,
    )


async def views(orders: list[Order]) -> list[OrderOut]:
    """Orders with their lines and codes: two more queries whatever the number of orders."""
    ids = [o.id for o in orders]
    lines: dict[Any, list[OrderLine]] = {}
    for line in await OrderLine.filter(order_id__in=ids).order_by("id") if ids else []:
        lines.setdefault(line.order_id, []).append(line)
    discount_ids = {o.discount_id for o in orders if o.discount_id}
    codes = (
        dict(await Discount.filter(id__in=discount_ids).values_list("id", "code"))
        if discount_ids
        else {}
    )
    return [view(o, lines.get(o.id, []), codes.get(o.discount_id)) for o in orders]


async def order_view(order: Order) -> OrderOut:
    return (await views([order]))[0]


def _key_digest(key: str | None) -> str | None:
    return hashlib.sha256(key.encode()).hexdigest() if key else None


# The buyer's cart for a market: its lines with their products and the market, as whole
# models, and the buyer's unpaid orders and held units in that market (for the hold caps), from
# one prepared statement; the ORM's select_related query cost more CPU than the database spent.
_CART_TO_CHECK_OUT = SelectModels(
    'FROM "orders_cart_item" i JOIN "orders_cart" c ON c."id" = i."cart_id" '
    'JOIN "catalog_product" p ON p."id" = i."product_id" '
    'JOIN "markets_market" m ON m."id" = p."market_id" '
    'WHERE c."user_id" = $1 AND c."market_id" = $2 ORDER BY i."id"',
    (CartItem, "i"),
    (Cart, "c"),
    (Product, "p"),
    (Market, "m"),
    omit=frozenset({"search_vector"}),
    also=(
        '(SELECT COUNT(*) FROM "orders_order" o WHERE o."user_id" = $1 AND o."market_id" = $2 '
        "AND o.\"status\" IN ('pending', 'processing')) AS \"held_orders\", "
        '(SELECT COALESCE(SUM(l."quantity"), 0) FROM "orders_order" o '
        'JOIN "orders_order_line" l ON l."order_id" = o."id" WHERE o."user_id" = $1 '
        'AND o."market_id" = $2 AND o."status" IN (\'pending\', \'processing\')) AS "held_units"'
    ),
)


@dataclass
class CartToCheckOut:
    items: list[CartItem]
    held_orders: int  # the buyer's unpaid orders in this market
    held_units: int  # and the units they hold


async def _cart_to_check_out(user: User, market_id: uuid.UUID) -> CartToCheckOut:
    rows = await _CART_TO_CHECK_OUT.fetch([user.id, market_id])
    items = []
    for row in rows:
        item, product = model_of(CartItem, row, "i"), model_of(Product, row, "p")
        product.market = model_of(Market, row, "m")
        item.cart, item.product = model_of(Cart, row, "c"), product
        items.append(item)
    held = rows[0] if rows else {"held_orders": 0, "held_units": 0}
    return CartToCheckOut(items, int(held["held_orders"]), int(held["held_units"]))


async def checkout(
    platform: Platform, user: User, data: CheckoutIn, idempotency_key: str | None
) -> OrderOut:
    """Freeze the cart's prices and discount into a pending order and hold its stock.

    Answers with the order as rendered from what it just wrote (no read back)."""
    digest = _key_digest(idempotency_key)
    # The cart's lines with their products and market in one query, read without a lock: the
    # cart is claimed at the end by deleting it only if no add-to-cart touched it meanwhile.
    cart_to_check_out = await _cart_to_check_out(user, data.market_id)
    items = cart_to_check_out.items
    market: Market | None = (
        items[0].product.market  # type: ignore[attr-defined]
        if items
        else await Market.get_or_none(id=data.market_id)
    )
    if market is None or not await can_view_storefront(user, market):
        raise NotFound()
    if market.status is not MarketStatus.published:
        raise Conflict("product_unavailable")
    if not items:
        # A retry that outlived its Redis record finds the cart already ordered: answer with
        # that order, never a second one (looked up only here, off the hot path).
        if digest and (
            existing := await Order.get_or_none(user_id=user.id, idempotency_key=digest)
        ):
            return await order_view(existing)
        raise Conflict("cart_empty")
    cart: Cart = items[0].cart
    _within_hold_caps(platform, cart_to_check_out, sum(item.quantity for item in items))
    hold_for = (
        platform.settings.stock_hold_cash_seconds
        if data.payment_method is PaymentMethod.cash
        else platform.settings.stock_hold_online_seconds
    )
    try:
        async with in_transaction():
            order_id = uuid.uuid4()
            order = Order(
                id=order_id,
                user_id=user.id,
                market_id=market.id,
                payment_method=data.payment_method,
                currency=market.currency,
                note=data.note,
                idempotency_key=digest,
            )
            lines = []
            for item in items:
                product: Product = item.product  # type: ignore[assignment]
                if product.status is not ProductStatus.published:
                    raise Conflict("cart_changed", extra={"product_id": str(product.id)})
                lines.append(
                    OrderLine(
                        order_id=order_id,
                        product_id=product.id,
                        name=product.name,
                        unit_price=product.price,
                        quantity=item.quantity,
                        line_total=product.price * item.quantity,
                    )
                )
            order.subtotal = sum((line.line_total for line in lines), Decimal(0))
            if not within_bounds(order.subtotal):  # prices rose after the cart was filled
                raise Conflict("amount_too_large")
            order.discount_amount = Decimal(0)
            discount = None
            if data.discount_code:
                priced = [
                    discounts.PricedLine(str(line.product_id), line.line_total) for line in lines
                ]
                discount, order.discount_amount = await discounts.evaluate(
                    market, data.discount_code, user, priced
                )
                order.discount_id = discount.id
            order.total = order.subtotal - order.discount_amount
            sold_out = await stock.reserve(order, lines, stock.now() + timedelta(seconds=hold_for))
            await order.save()
            await OrderLine.bulk_create(lines)
            if discount is not None:
                await discounts.hold(discount, user, order_id)
            # Claim the cart (its items go by ON DELETE CASCADE). A concurrent checkout of the
            # same cart waits here and then finds it gone; a concurrent add-to-cart moved
            # updated_at: either way this order is rolled back, holds and all.
            if not await Cart.filter(id=cart.id, updated_at=cart.updated_at).delete():
                raise Conflict("cart_changed")
    except IntegrityError:
        # The same Idempotency-Key raced in twice: the other request made the order.
        if digest and (
            existing := await Order.get_or_none(user_id=user.id, idempotency_key=digest)
        ):
            return await order_view(existing)
        raise
    if sold_out:  # a hold that leaves stock keeps every page true: no need to drop them
        await catalog_cache.invalidate(platform, [str(market.id)], sold_out)
    ORDERS.labels("placed").inc()
    if order.payment_method is PaymentMethod.cash:
        # the owner must accept a cash order now; an online one is announced once it is paid
        await notify_quietly(
            platform,
            market.owner_id,
            "order_placed",
            event_data(order_id=order.id),
            total=display(order.total, order.currency),
            market=market.name,
        )
    return view(order, lines, discount.code if discount else None)


def _within_hold_caps(platform: Platform, cart: CartToCheckOut, units: int) -> None:
    """At most N unpaid orders and M held units per buyer and market (settings). Concurrent
    checkouts of the same buyer and market claim the same cart, so only one can pass here."""
    settings = platform.settings
    if cart.held_orders >= settings.max_open_orders_per_market:
        raise Conflict("too_many_open_orders", limit=settings.max_open_orders_per_market)
    if cart.held_units + units > settings.max_held_units_per_market:
        raise Conflict(
            "too_many_units_held",
            limit=settings.max_held_units_per_market,
            extra={"held": cart.held_units, "limit": settings.max_held_units_per_market},
        )


TAKES = ("accept_cash", "payment_succeeded", "pay_from_wallet")
RELEASES = ("reject", "cancel", "expire", "payment_failed")


async def _invalidate_after(
    platform: Platform, order: Order, action: str, lines: list[OrderLine]
) -> None:
    """A sale made final changes only sales counts; a release makes units available again."""
    if action in TAKES:
        await catalog_cache.invalidate(platform, [str(order.market_id)], popularity_only=True)
    elif action in RELEASES:
        await catalog_cache.invalidate(
            platform, [str(order.market_id)], [str(line.product_id) for line in lines]
        )


async def apply_action(order: Order, action: str) -> list[OrderLine]:
    """Inside the caller's transaction, on a locked order: move it by one state-machine action
    with its stock and discount effects (taken for good, or given back). Returns its lines."""
    target = next_state(order, action)
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    if action in TAKES:
        await stock.take(order, lines)
        if order.discount_id is not None:
            await discounts.consume(order.id)
    elif action in RELEASES:
        await stock.release(order, lines)
        if order.discount_id is not None:
            await discounts.release(order.id)
    order.status = target
    return lines


async def _act(
    platform: Platform,
    order_id: Any,
    action: str,
    *,
    reason: str = "",
    market_name: str | None = None,
    **where: Any,
) -> OrderOut:
    """Run one state-machine action on a locked order, with its stock and discount effects."""
    async with in_transaction():
        order = await Order.filter(id=order_id, **where).select_for_update().first()
        if order is None:
            raise NotFound()
        lines = await apply_action(order, action)
        if reason:
            order.reason = reason
        await order.save()
    await _invalidate_after(platform, order, action, lines)
    ORDERS.labels(order.status.value).inc()
    await notify_order_status(platform, order, market_name)
    code = (
        await Discount.filter(id=order.discount_id).first().values_list("code", flat=True)
        if order.discount_id
        else None
    )
    return view(order, lines, code)  # type: ignore[arg-type]


async def notify_order_status(
    platform: Platform, order: Order, market_name: str | None = None
) -> None:
    if market_name is None:
        market_name = (await Market.get(id=order.market_id)).name
    await notify_quietly(
        platform,
        order.user_id,
        "order_status",
        event_data(order_id=order.id),
        market=market_name,
        status=order.status.value,
    )


async def pay_with_wallet(platform: Platform, user: User, order_id: Any) -> Order:
    """Pay an online order from the buyer's wallet: stock taken, discount used, money moved."""
    from asoud.wallet.services import charge_for_order

    async with in_transaction():
        order = await Order.filter(id=order_id, user_id=user.id).select_for_update().first()
        if order is None:
            raise NotFound()
        lines = await apply_action(order, "pay_from_wallet")
        if order.total > 0:
            await charge_for_order(user.id, order.total, order.currency, order.id)
        await order.save()
    await _invalidate_after(platform, order, "pay_from_wallet", lines)
    await notify_order_status(platform, order)
    await announce_paid(platform, order.id)
    return order


async def announce_paid(platform: Platform, order_id: Any) -> None:
    """Tell the market's owner that an order is paid, from a task: the payment callback keeps
    its query budget, and a notification problem never touches the payment."""
    from asoud.background.broker import enqueue

    try:
        await enqueue(platform.tasks, "orders.tell_owner_paid", order_id=str(order_id))
    except Exception as exc:  # the broker is unreachable: the order stays paid regardless
        log.error("order_paid announcement not queued: %s", type(exc).__name__)


async def tell_owner_paid(platform: Platform, order_id: str) -> bool:
    """The task's work. Delivery is at least once: a marker in Redis (kept a day) stops a
    redelivered run from telling the owner twice."""
    order = await Order.get_or_none(id=order_id)
    if order is None or order.status is not OrderStatus.paid:
        return False
    market = await Market.get(id=order.market_id)
    marker = platform.keys("order-paid-announced", str(order.id))
    if not await platform.redis.set(marker, "1", nx=True, ex=86_400):
        return False
    await notify_quietly(
        platform,
        market.owner_id,
        "order_paid",
        event_data(order_id=order.id),
        total=display(order.total, order.currency),
        market=market.name,
    )
    return True


RESTORABLE = (OrderStatus.failed, OrderStatus.cancelled)


async def restore_cart(user: User, order_id: Any) -> tuple[Cart | None, list[LineNotRestored]]:
    """The lines of a failed or cancelled order, back in the cart one by one under the usual
    add-to-cart rules; a line that cannot go back is reported, not fatal."""
    order = await Order.get_or_none(id=order_id, user_id=user.id)
    if order is None:
        raise NotFound()
    if order.status not in RESTORABLE:
        raise Conflict(
            "transition_not_allowed",
            entity="order",
            current=order.status.value,
            action="put back in the cart",
            extra={"current_status": order.status.value},
        )
    restored: Cart | None = None
    skipped: list[LineNotRestored] = []
    for line in await OrderLine.filter(order_id=order.id).order_by("id"):
        try:
            restored = await carts.add_item(user, line.product_id, line.quantity)
        except DomainError as refused:
            skipped.append(LineNotRestored(product_id=line.product_id, code=refused.code))
    return restored, skipped


async def cancel_by_customer(platform: Platform, user: User, order_id: Any) -> OrderOut:
    return await _act(platform, order_id, "cancel", user_id=user.id)


async def owner_action(
    platform: Platform, market: Market, order_id: Any, action: str, reason: str = ""
) -> OrderOut:
    return await _act(
        platform, order_id, action, reason=reason, market_name=market.name, market_id=market.id
    )


async def release_expired_holds(platform: Platform, limit: int = 500) -> int:
    """Cancel orders whose stock hold ran out, releasing stock and discount uses.

    For the scheduler; safe to run concurrently (each order is re-checked under its lock).
    """
    expired = (
        await Order.filter(
            reserved_until__lt=stock.now(), status__in=[OrderStatus.pending, OrderStatus.processing]
        )
        .order_by("reserved_until")
        .limit(limit)
        .values_list("id", flat=True)
    )
    released = 0
    for order_id in expired:
        try:
            await _act(
                platform,
                order_id,
                "expire",
                reason="reservation expired",
                reserved_until__lt=stock.now(),
            )
        except (NotFound, Conflict):
            continue  # decided or paid meanwhile
        released += 1
    return released
