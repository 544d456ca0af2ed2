"""HTTP routes of carts, checkout and orders."""

from __future__ import annotations

from typing import Any

from asoud.markets.access import READ, WRITE, market_for
from asoud.orders import cart as carts
from asoud.orders import services
from asoud.orders.models import Order
from asoud.orders.schemas import (
    CartItemIn,
    CartItemPatch,
    CartOut,
    CartRestored,
    Carts,
    CheckoutIn,
    OrderListQuery,
    OrderOut,
    OrderPage,
    RejectIn,
)
from asoud.platform.errors import NotFound, uuid_or_404
from asoud.platform.http import Api, Auth, Call
from asoud.platform.i18n import current_language
from asoud.platform.pagination import newest_first

api = Api()


async def _cart_view(cart: Any) -> CartOut:
    rendered = await carts.cart_of(cart, current_language.get())
    if rendered is None:  # every line was removed meanwhile
        raise NotFound()
    return rendered


@api.endpoint(
    "GET",
    "/api/v1/cart",
    summary="My carts (one per market)",
    tags=["cart"],
    auth=Auth.user,
    responses={200: Carts},
)
async def get_carts(call: Call[Any, Any]) -> Carts:
    return Carts(items=await carts.carts_of(call.principal.user, current_language.get()))


@api.endpoint(
    "POST",
    "/api/v1/cart/items",
    summary="Add a product to the cart",
    tags=["cart"],
    auth=Auth.user,
    body=CartItemIn,
    responses={201: CartOut},
    errors=[404, 409],
)
async def add_cart_item(call: Call[CartItemIn, Any]) -> CartOut:
    """Quantities of the same product merge. The product must be on sale and in stock."""
    cart = await carts.add_item(call.principal.user, call.body.product_id, call.body.quantity)
    return await _cart_view(cart)


@api.endpoint(
    "PATCH",
    "/api/v1/cart/items/{item_id}",
    summary="Change a quantity",
    tags=["cart"],
    auth=Auth.user,
    body=CartItemPatch,
    responses={200: CartOut},
    errors=[404, 409],
)
async def patch_cart_item(call: Call[CartItemPatch, Any]) -> CartOut:
    cart = await carts.set_quantity(call.principal.user, call.path["item_id"], call.body.quantity)
    return await _cart_view(cart)


@api.endpoint(
    "DELETE",
    "/api/v1/cart/items/{item_id}",
    summary="Remove from the cart",
    tags=["cart"],
    auth=Auth.user,
    responses={204: None},
    errors=[404],
)
async def delete_cart_item(call: Call[Any, Any]) -> None:
    await carts.remove_item(call.principal.user, call.path["item_id"])


@api.endpoint(
    "POST",
    "/api/v1/checkout",
    summary="Turn a cart into an order",
    tags=["orders"],
    auth=Auth.user,
    body=CheckoutIn,
    responses={201: OrderOut},
    errors=[404, 409],
    idempotent=True,
)
async def checkout(call: Call[CheckoutIn, Any]) -> OrderOut:
    """Freezes prices and the discount into a `pending` order and holds the stock (cash:
    until the owner decides, online: while the buyer pays). Send an `Idempotency-Key`."""
    return await services.checkout(
        call.platform, call.principal.user, call.body, call.request.headers.get("Idempotency-Key")
    )


async def _page(qs: Any, query: OrderListQuery) -> OrderPage:
    if query.status is not None:
        qs = qs.filter(status=query.status)
    rows, cursor = await newest_first(qs, query.limit, query.cursor)
    return OrderPage(items=await services.views(rows), next_cursor=cursor)


@api.endpoint(
    "GET",
    "/api/v1/orders",
    summary="My orders",
    tags=["orders"],
    auth=Auth.user,
    query=OrderListQuery,
    responses={200: OrderPage},
)
async def list_orders(call: Call[Any, OrderListQuery]) -> OrderPage:
    return await _page(Order.filter(user_id=call.principal.user.id), call.query)


@api.endpoint(
    "GET",
    "/api/v1/orders/{order_id}",
    summary="One of my orders",
    tags=["orders"],
    auth=Auth.user,
    responses={200: OrderOut},
    errors=[404],
)
async def get_order(call: Call[Any, Any]) -> OrderOut:
    order = await Order.get_or_none(
        id=uuid_or_404(call.path["order_id"]), user_id=call.principal.user.id
    )
    if order is None:
        raise NotFound()
    return await services.order_view(order)


@api.endpoint(
    "POST",
    "/api/v1/orders/{order_id}/cancel",
    summary="Cancel my order",
    tags=["orders"],
    auth=Auth.user,
    responses={200: OrderOut},
    errors=[404, 409],
)
async def cancel_order(call: Call[Any, Any]) -> OrderOut:
    """While `pending`, or `processing` when a payment hangs; the held stock and discount use
    are given back, and a payment that still succeeds later goes to the buyer's wallet."""
    return await services.cancel_by_customer(
        call.platform, call.principal.user, uuid_or_404(call.path["order_id"])
    )


@api.endpoint(
    "POST",
    "/api/v1/orders/{order_id}/cart",
    summary="Put a failed or cancelled order back in my cart",
    tags=["orders"],
    auth=Auth.user,
    responses={200: CartRestored},
    errors=[404, 409],
)
async def restore_cart(call: Call[Any, Any]) -> CartRestored:
    """After a failed or cancelled payment: the order's lines go back into the market's cart
    (merged with what is there, at today's prices) to check out and pay again."""
    restored, skipped = await services.restore_cart(
        call.principal.user, uuid_or_404(call.path["order_id"])
    )
    cart = await carts.cart_of(restored, current_language.get()) if restored else None
    return CartRestored(cart=cart, not_restored=skipped)


@api.endpoint(
    "GET",
    "/api/v1/markets/{market_id}/orders",
    summary="A market's orders",
    tags=["orders"],
    auth=Auth.user,
    query=OrderListQuery,
    responses={200: OrderPage},
    errors=[404],
)
async def list_market_orders(call: Call[Any, OrderListQuery]) -> OrderPage:
    market, _ = await market_for(call.principal.user, call.path["market_id"], READ)
    return await _page(Order.filter(market_id=market.id), call.query)


def _owner_action(path: str, action: str, summary: str, body: Any = None) -> None:
    @api.endpoint(
        "POST",
        f"/api/v1/markets/{{market_id}}/orders/{{order_id}}/{path}",
        summary=summary,
        tags=["orders"],
        auth=Auth.user,
        body=body,
        responses={200: OrderOut},
        errors=[404, 409],
    )
    async def handler(call: Call[Any, Any]) -> OrderOut:
        market, _ = await market_for(call.principal.user, call.path["market_id"], WRITE)
        reason = getattr(call.body, "reason", "")
        return await services.owner_action(
            call.platform, market, uuid_or_404(call.path["order_id"]), action, reason
        )

    handler.__name__ = f"{path}_order"


_owner_action("accept", "accept_cash", "Accept a cash order (stock leaves for good)")
_owner_action("reject", "reject", "Reject a pending order (a reason is required)", RejectIn)
_owner_action("fulfil", "fulfil", "Mark a paid order fulfilled")
