"""Background work of currencies."""

from __future__ import annotations

from asoud.background.broker import task
from asoud.background.context import current_platform
from asoud.currencies import services


@task("currencies.refresh_rates", schedule="7 * * * *", timeout_seconds=120)
async def refresh_rates() -> int:
    """Hourly: fetch exchange rates from the provider (manual overrides stay)."""
    return await services.refresh_rates(current_platform())
