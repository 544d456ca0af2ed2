"""Background work of orders."""

from __future__ import annotations

from asoud.background.broker import task
from asoud.background.context import current_platform
from asoud.orders import services


@task("orders.release_expired_holds", schedule="* * * * *", timeout_seconds=300)
async def release_expired_holds() -> int:
    """Every minute: give back the stock and discount uses of orders whose hold ran out."""
    return await services.release_expired_holds(current_platform())


@task("orders.tell_owner_paid", timeout_seconds=60)
async def tell_owner_paid(order_id: str) -> bool:
    """Once a payment settles: the market's owner hears that the order is paid."""
    return await services.tell_owner_paid(current_platform(), order_id)
