"""Background work of payments."""

from __future__ import annotations

from asoud.background.broker import task
from asoud.background.context import current_platform
from asoud.payments import services


@task("payments.reconcile", schedule="* * * * *", timeout_seconds=300)
async def reconcile_payments() -> dict[str, int]:
    """Every minute: ask the gateways about sessions open for more than 30 minutes."""
    return await services.reconcile(current_platform())
