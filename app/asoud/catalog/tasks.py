"""Background work of the catalogue."""

from __future__ import annotations

from asoud.background.broker import task
from asoud.background.context import current_platform
from asoud.catalog import services


@task("catalog.warm_cache", schedule="*/5 * * * *", timeout_seconds=300)
async def warm_cache() -> int:
    """Every five minutes: load the first catalogue pages into Redis."""
    return await services.warm_cache(current_platform())
