"""Background work of notifications."""

from __future__ import annotations

from asoud.background.broker import task
from asoud.background.context import current_platform
from asoud.notifications import services


@task("notifications.deliver", max_attempts=1, timeout_seconds=60)
async def deliver(delivery_id: int) -> str:
    """Send one SMS, push or e-mail. Its retries live in the delivery row (the sweep sends
    it again when due), so a lost queue message loses nothing."""
    return await services.deliver(current_platform(), delivery_id)


@task("notifications.deliver_due", schedule="* * * * *", timeout_seconds=120)
async def deliver_due() -> int:
    """Every minute: send what waited for quiet hours to end (or lost its queue message)."""
    return await services.deliver_due(current_platform())


@task("notifications.cleanup", schedule="17 3 * * *", timeout_seconds=600)
async def cleanup() -> int:
    """Nightly: forget read notifications older than 90 days."""
    return await services.cleanup()
