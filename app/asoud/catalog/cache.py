"""Catalogue read caches and their invalidation.

List pages are cached under a *generation* number: every write that can change what a list
shows (a product, its stock, its market's status, a category) increments the generation of
the market and the global one, and older entries are simply never read again (they expire).
Product detail entries are deleted by id. Only what anonymous callers of public markets see
is cached, so no entry ever depends on who asks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from asoud.platform.cache import UNREACHABLE
from asoud.platform.i18n import SUPPORTED_LANGUAGES
from asoud.platform.local_cache import LocalResponses
from asoud.runtime import Platform

LIST_CACHE = "catalog-list"
DETAIL_CACHE = "product"
TTL_SECONDS = 300
GLOBAL = "all"


def _generation_key(platform: Platform, scope: str) -> str:
    return platform.keys("catalog-gen", scope)


POPULAR = ":popular"  # lists sorted by sales: they also change when a sale is final
# Every invalidation bumps one of these last (see invalidate): the in-process mirror of the
# generations watches only them until one moves.
SENTINELS = (GLOBAL, GLOBAL + POPULAR)


def local(platform: Platform) -> LocalResponses:
    """This process's rendered anonymous answers (see asoud.platform.local_cache)."""
    responses: LocalResponses | None = platform.adapters.get("catalog:local")
    if responses is None:
        responses = platform.adapters["catalog:local"] = LocalResponses(
            platform.redis,
            lambda scope: _generation_key(platform, scope),
            SENTINELS,
            enabled=platform.cache.enabled and platform.settings.local_cache_mb > 0,
            max_bytes=platform.settings.local_cache_mb * 1024 * 1024,
        )
    return responses


async def generation(platform: Platform, scope: str, *, popular: bool = False) -> int | None:
    """The scope's list generation; None when the cache cannot be trusted right now (Redis
    unreachable, or invalidations it missed not yet written): read from PostgreSQL."""
    if not platform.cache.usable(LIST_CACHE) or not await platform.cache.settle():
        return None
    try:
        value = await platform.redis.get(
            _generation_key(platform, scope + (POPULAR if popular else ""))
        )
    except UNREACHABLE as exc:
        platform.cache.unavailable(LIST_CACHE, exc)
        return None
    return int(value or 0)


def list_key(scope: str, generation_number: int, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    return f"{scope}:{generation_number}:{digest[:32]}"


async def invalidate(
    platform: Platform,
    market_ids: Iterable[str],
    product_ids: Iterable[str] = (),
    *,
    popularity_only: bool = False,
) -> None:
    """Call after any write that changes what catalogue readers see. ``popularity_only``: only
    the sales counts changed (a sale became final), which only lists sorted by sales show."""
    # The global scope last: once a reader sees it moved, the markets' moves are visible too
    # (one connection's commands run in order), which the in-process mirror relies on.
    scopes = [*set(market_ids), GLOBAL]
    touched = [scope + POPULAR for scope in scopes]
    if not popularity_only:
        touched += scopes

    async def bump() -> None:
        async with platform.redis.pipeline(transaction=False) as pipe:
            for scope in scopes:
                pipe.incr(_generation_key(platform, scope + POPULAR))
                if not popularity_only:
                    pipe.incr(_generation_key(platform, scope))
            await pipe.execute()

    # Never fails the write that called it (it is committed): what Redis does not take now
    # is owed and written before this process reads the cache again.
    await platform.cache.settle()
    try:
        await bump()
    except UNREACHABLE:
        platform.cache.owe(bump)
    finally:
        # This process's own entries stop at once (after the bump: a mirror refresh during
        # it could have re-read the old numbers).
        local(platform).forget(touched)
    if not popularity_only:
        await platform.cache.delete_many(
            DETAIL_CACHE, [f"{p}:{lang}" for p in product_ids for lang in SUPPORTED_LANGUAGES]
        )
