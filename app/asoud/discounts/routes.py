"""HTTP routes of discount codes."""

from __future__ import annotations

from typing import Any

from asoud.discounts import services
from asoud.discounts.models import Discount
from asoud.discounts.schemas import (
    DiscountCreate,
    DiscountList,
    DiscountOut,
    DiscountPatch,
    ValidateIn,
    ValidateOut,
)
from asoud.markets.access import WRITE, market_for, visible_market
from asoud.orders.cart import carts_of
from asoud.platform.errors import Conflict, NotFound, uuid_or_404
from asoud.platform.http import Api, Auth, Call
from asoud.platform.i18n import current_language
from asoud.platform.money import money

api = Api()


@api.endpoint(
    "POST",
    "/api/v1/markets/{market_id}/discounts",
    summary="Create a discount code",
    tags=["discounts"],
    auth=Auth.user,
    body=DiscountCreate,
    responses={201: DiscountOut},
    errors=[404],
    idempotent=True,
)
async def create_discount(call: Call[DiscountCreate, Any]) -> DiscountOut:
    """The server makes the code. Percentage 1-100 or a fixed amount; optional expiry,
    usage limit, product and customer allow-list; each customer may use a code once."""
    market, _ = await market_for(call.principal.user, call.path["market_id"], WRITE)
    return services.view(await services.create_discount(market, call.body))


@api.endpoint(
    "GET",
    "/api/v1/markets/{market_id}/discounts",
    summary="A market's codes",
    tags=["discounts"],
    auth=Auth.user,
    responses={200: DiscountList},
    errors=[404],
)
async def list_discounts(call: Call[Any, Any]) -> DiscountList:
    market, _ = await market_for(call.principal.user, call.path["market_id"], WRITE)
    rows = await Discount.filter(market_id=market.id).order_by("-created_at").limit(200)
    return DiscountList(items=[services.view(d) for d in rows])


@api.endpoint(
    "PATCH",
    "/api/v1/markets/{market_id}/discounts/{discount_id}",
    summary="Switch off or change a code",
    tags=["discounts"],
    auth=Auth.user,
    body=DiscountPatch,
    responses={200: DiscountOut},
    errors=[404],
)
async def patch_discount(call: Call[DiscountPatch, Any]) -> DiscountOut:
    market, _ = await market_for(call.principal.user, call.path["market_id"], WRITE)
    discount = await Discount.get_or_none(
        id=uuid_or_404(call.path["discount_id"]), market_id=market.id
    )
    if discount is None:
        raise NotFound()
    return services.view(await services.update_discount(discount, call.body))


@api.endpoint(
    "POST",
    "/api/v1/discounts/validate",
    summary="Check a code against my cart",
    tags=["discounts"],
    auth=Auth.user,
    body=ValidateIn,
    responses={200: ValidateOut},
    errors=[404, 409],
)
async def validate_discount(call: Call[ValidateIn, Any]) -> ValidateOut:
    """What the code would take off the cart of that market now (nothing is held)."""
    user = call.principal.user
    market = await visible_market(user, str(call.body.market_id))
    cart = next(
        (c for c in await carts_of(user, current_language.get()) if c.market_id == market.id), None
    )
    if cart is None:
        raise Conflict("cart_empty")
    lines = [
        services.PricedLine(str(line.product_id), line.line_total.amount) for line in cart.items
    ]
    discount, amount = await services.evaluate(market, call.body.code, user, lines)
    subtotal = cart.subtotal.amount
    return ValidateOut(
        code=discount.code,
        subtotal=cart.subtotal,
        discount=money(amount, market.currency),
        total=money(subtotal - amount, market.currency),
    )
