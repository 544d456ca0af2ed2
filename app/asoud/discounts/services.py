"""Discount rules: server-made codes, checks against a cart, and capacity held per order.

A use is *held* when checkout freezes the discount into an order, *consumed* when the order
is paid or accepted, and *released* when it is rejected, cancelled or expires, so the
usage limit is never exceeded, even by orders that are still open.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from asoud.discounts.models import Discount, DiscountKind, Redemption, RedemptionState
from asoud.discounts.schemas import DiscountCreate, DiscountOut, DiscountPatch
from asoud.identity.models import User
from asoud.identity.phone import normalise_phone
from asoud.markets.models import Market
from asoud.platform.database import save_changes
from asoud.platform.errors import Conflict, field_error
from asoud.platform.i18n import translate_field_error
from asoud.platform.money import check_amount_precision, quantize

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
CODE_LENGTH = 8


@dataclass(frozen=True)
class PricedLine:
    product_id: str
    line_total: Decimal


def _invalid(reason: str) -> Conflict:
    return Conflict(
        "discount_invalid", reason=translate_field_error(reason), extra={"reason": reason}
    )


def view(discount: Discount) -> DiscountOut:
    return DiscountOut(
        id=discount.id,
        code=discount.code,
        kind=discount.kind,
        value=format(discount.value, "f"),
        product_id=discount.product_id,
        expires_at=discount.expires_at,
        usage_limit=discount.usage_limit,
        used=discount.used,
        reserved=discount.reserved,
        active=discount.active,
        restricted=bool(discount.allowed_phones),
    )


def _not_expired(expires_at: datetime | None) -> None:
    """A code that has already expired could never be used: refuse it rather than store it."""
    if expires_at is None:
        return
    aware = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
    if aware <= datetime.now(UTC):
        raise field_error("body.expires_at", "expiry_in_past")


async def create_discount(market: Market, data: DiscountCreate) -> Discount:
    _not_expired(data.expires_at)
    allowed: list[str] = []
    for index, phone in enumerate(data.allowed_phones):
        try:
            allowed.append(normalise_phone(phone))
        except ValueError:
            raise field_error(f"body.allowed_phones.{index}", "invalid_phone") from None
    if data.product_id is not None:
        from asoud.catalog.models import Product

        if not await Product.exists(id=data.product_id, market_id=market.id):
            raise field_error("body.product_id", "invalid")
    if data.kind is DiscountKind.fixed:
        try:
            check_amount_precision(data.value, market.currency)
        except ValueError:
            raise field_error("body.value", "too_many_decimals") from None
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return await Discount.create(
        market_id=market.id,
        product_id=data.product_id,
        code=code,
        kind=data.kind,
        value=data.value,
        expires_at=data.expires_at,
        usage_limit=data.usage_limit,
        allowed_phones=sorted(set(allowed)),
    )


async def update_discount(discount: Discount, patch: DiscountPatch) -> Discount:
    """Write only the edited fields of the row as it is now (its uses move concurrently)."""
    changes = patch.model_dump(exclude_unset=True)
    _not_expired(changes.get("expires_at"))
    async with in_transaction():
        discount = await Discount.filter(id=discount.id).select_for_update().get()
        limit = changes.get("usage_limit")
        if limit is not None and limit < discount.used + discount.reserved:
            uses = discount.used + discount.reserved
            raise Conflict("usage_limit_below_uses", uses=uses, extra={"uses": uses})
        await save_changes(discount, changes)
    return discount


def _amount(discount: Discount, lines: Sequence[PricedLine], currency: str) -> Decimal:
    if discount.product_id is not None:
        base = sum(
            (line.line_total for line in lines if line.product_id == str(discount.product_id)),
            Decimal(0),
        )
    else:
        base = sum((line.line_total for line in lines), Decimal(0))
    if base <= 0:
        raise _invalid("discount_not_applicable")
    if discount.kind is DiscountKind.percentage:
        return min(base, quantize(base * discount.value / 100, currency))
    return min(base, discount.value)


async def evaluate(
    market: Market, code: str, user: User, lines: Sequence[PricedLine]
) -> tuple[Discount, Decimal]:
    """The discount and the amount it takes off these lines, or 409 ``discount_invalid``."""
    discount = await Discount.get_or_none(market_id=market.id, code=code.strip().upper())
    if discount is None:
        raise _invalid("discount_unknown")
    if not discount.active:
        raise _invalid("discount_inactive")
    if discount.expires_at is not None and discount.expires_at <= datetime.now(UTC):
        raise _invalid("discount_expired")
    if discount.allowed_phones and user.phone not in discount.allowed_phones:
        raise _invalid("discount_not_for_you")
    if (
        discount.usage_limit is not None
        and discount.used + discount.reserved >= discount.usage_limit
    ):
        raise _invalid("discount_used_up")
    if await Redemption.exists(
        discount_id=discount.id,
        user_id=user.id,
        state__in=[RedemptionState.reserved, RedemptionState.consumed],
    ):
        raise _invalid("discount_already_used")
    return discount, _amount(discount, lines, market.currency)


async def hold(discount: Discount, user: User, order_id: uuid.UUID) -> None:
    """Take one use for an order (inside the checkout transaction)."""
    taken = await Discount.filter(
        Q(usage_limit__isnull=True) | Q(usage_limit__gt=F("reserved") + F("used")),
        id=discount.id,
    ).update(reserved=F("reserved") + 1)
    if not taken:
        raise _invalid("discount_used_up")
    # The UPDATE above locks the discount row until commit, so this check cannot race.
    if await Redemption.exists(
        discount_id=discount.id,
        user_id=user.id,
        state__in=[RedemptionState.reserved, RedemptionState.consumed],
    ):
        raise _invalid("discount_already_used")
    await Redemption.create(discount_id=discount.id, user_id=user.id, order_id=order_id)


async def consume(order_id: uuid.UUID) -> None:
    redemption = await Redemption.get_or_none(order_id=order_id, state=RedemptionState.reserved)
    if redemption is None:
        return
    await Discount.filter(id=redemption.discount_id, reserved__gt=0).update(
        reserved=F("reserved") - 1, used=F("used") + 1
    )
    redemption.state = RedemptionState.consumed
    await redemption.save(update_fields=["state"])


async def release(order_id: uuid.UUID) -> None:
    redemption = await Redemption.get_or_none(order_id=order_id, state=RedemptionState.reserved)
    if redemption is None:
        return
    await Discount.filter(id=redemption.discount_id, reserved__gt=0).update(
        reserved=F("reserved") - 1
    )
    redemption.state = RedemptionState.released
    await redemption.save(update_fields=["state"])
