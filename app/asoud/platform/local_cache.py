"""Rendered answers kept in the process, valid while their generation in Redis is unchanged.

The Redis cache costs a round trip per read; for the hottest anonymous reads that round trip
was most of the request. This cache keeps the rendered bytes (and their ETag) in memory,
stamped with the generation of the scope they were rendered under. A background refresh reads
the generations from Redis every ``REFRESH_SECONDS``: first only the sentinel scopes (every
invalidation bumps one of them *last*, after the scopes it names), and all the scopes in use
only when a sentinel moved. An entry is served only while

- its scope's generation in the mirror equals the entry's, and
- the mirror was refreshed within ``MAX_STALENESS_SECONDS``,

so another process's write is seen within that bound, this process's own writes at once
(:meth:`LocalResponses.forget` drops the scopes they touched), and nothing is served from
memory while Redis cannot be read (the mirror goes stale and every read goes the long way).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from asoud.platform.cache import UNREACHABLE

log = logging.getLogger("asoud.cache")

REFRESH_SECONDS = 0.25
MAX_STALENESS_SECONDS = 1.0
MAX_SCOPES = 10_000
ENTRY_OVERHEAD_BYTES = 400  # the key, the entry and the dict slot, roughly


def etag_of(body: bytes) -> str:
    """A strong validator: the same bytes, the same tag."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    etag: str
    scope: str
    generation: int
    expires_at: float  # the same safety net as the Redis entries' TTL


class LocalResponses:
    def __init__(
        self,
        redis: Redis,
        key_of: Callable[[str], str],
        sentinels: tuple[str, ...],
        *,
        enabled: bool = True,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.redis = redis
        self.max_bytes = max_bytes
        self._bytes = 0
        self.key_of = key_of
        self.sentinels = sentinels
        self.enabled = enabled
        self._entries: dict[str, Entry] = {}
        self._generations: dict[str, int] = {}
        self._sentinel_values: tuple[int, ...] | None = None
        self._wanted: set[str] = set()  # scopes asked for but not yet in the mirror
        self._synced_at = float("-inf")
        self.version = 0  # moves whenever a mirrored generation may have changed
        self._refresher: asyncio.Task[None] | None = None

    # -- reading and storing -------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None or not self.fresh():
            self._ensure_refreshing()
            return None
        current = self._generations.get(entry.scope)
        if current is None or current > entry.generation or entry.expires_at < time.monotonic():
            self._drop(key)  # outdated, or no longer known to be current
            return None
        if current < entry.generation:
            return None  # newer than the mirror: served once the mirror catches up
        # least recently used first: a hit moves the entry to the end of the insertion order
        del self._entries[key]
        self._entries[key] = entry
        return entry

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body) + ENTRY_OVERHEAD_BYTES

    def generation(self, scope: str) -> int | None:
        """The scope's generation as mirrored, or None (not known yet, or stale)."""
        if not self.enabled:
            return None
        self._ensure_refreshing()
        if not self.fresh():
            return None
        value = self._generations.get(scope)
        if value is None and len(self._wanted) < MAX_SCOPES:
            self._wanted.add(scope)
        return value

    def put(
        self, key: str, body: bytes, scope: str, since: int | None, ttl_seconds: float
    ) -> Entry:
        """The answer ``body`` of ``scope`` as an entry (its ETag), kept if ``since`` (the
        :attr:`version` read before the data was) is still the version: then the mirror held
        still while the data was read, and its generation of the scope stamps the entry (a
        write in between can only make the entry outdated, never keep stale data).
        ``since=None``: an answer for one caller, never kept."""
        generation = self.generation(scope) if since is not None and since == self.version else None
        entry = Entry(
            body,
            etag_of(body),
            scope,
            generation if generation is not None else -1,
            time.monotonic() + ttl_seconds,
        )
        size = len(body) + ENTRY_OVERHEAD_BYTES
        if generation is not None and size <= self.max_bytes:
            self._drop(key)
            while self._bytes + size > self.max_bytes:  # the least recently used go first
                self._drop(next(iter(self._entries)))
            self._entries[key] = entry
            self._bytes += size
        return entry

    def forget(self, scopes: Iterable[str]) -> None:
        """This process changed these scopes: its own entries for them stop at once."""
        for scope in scopes:
            self._generations.pop(scope, None)
            self._wanted.add(scope)
        self.version += 1

    def fresh(self) -> bool:
        return time.monotonic() - self._synced_at < MAX_STALENESS_SECONDS

    # -- the mirror ------------------------------------------------------------------------

    def _ensure_refreshing(self) -> None:
        if self._refresher is None or self._refresher.done():
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to refresh
                self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except UNREACHABLE as exc:  # stale after MAX_STALENESS_SECONDS: reads go the long way
                log.warning("generation mirror not refreshed: %s", type(exc).__name__)
            await asyncio.sleep(REFRESH_SECONDS)

    async def refresh(self) -> None:
        scopes = [*self.sentinels]
        sentinels_only = self._sentinel_values is not None and not self._wanted
        if not sentinels_only:
            known = [s for s in self._generations if s not in self.sentinels]
            scopes += sorted({*known, *self._wanted} - set(self.sentinels))
        wanted_before = set(self._wanted)
        values = await self.redis.mget([self.key_of(scope) for scope in scopes])
        numbers = [int(v or 0) for v in values]
        sentinel_values = tuple(numbers[: len(self.sentinels)])
        if sentinels_only and sentinel_values != self._sentinel_values:
            # Something changed somewhere: learn every scope in use, in one atomic read, so
            # the sentinels and the scopes come from the same moment.
            self._sentinel_values = None
            await self.refresh()
            return
        if not sentinels_only:
            if len(scopes) > MAX_SCOPES:
                self._entries.clear()
                self._bytes = 0
            generations = dict(zip(scopes, numbers, strict=True))
            if generations != self._generations:
                self.version += 1
            self._generations = generations
            self._wanted -= wanted_before
        self._sentinel_values = sentinel_values
        self._synced_at = time.monotonic()

    async def stop(self) -> None:
        if self._refresher is not None and not self._refresher.done():
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
