"""Idempotency-Key handling with Stripe's semantics, stored in Redis for 24 h.

Same key + same body → the stored response again (``Idempotent-Replayed: true``); same key +
different body → 422; a retry while the first is still running → 409. Only successful
(2xx) responses are kept: a refused or failed request changed nothing, so a retry re-runs it.
Keys are scoped to the caller, method and path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from starlette.responses import Response

from asoud.platform.cache import UNREACHABLE
from asoud.platform.errors import Conflict, DomainError

if TYPE_CHECKING:
    from asoud.platform.http import Call

log = logging.getLogger("asoud.idempotency")
HEADER = "Idempotency-Key"
TTL_SECONDS = 24 * 3600
IN_PROGRESS_TTL_SECONDS = 60
# Visible ASCII, spaces only inside (HTTP trims them at the ends): 1 to 255 characters.
KEY_PATTERN = re.compile(r"^[!-~](?:[ -~]{0,253}[!-~])?$")


def _fingerprint(call: Call[Any, Any]) -> str:
    body = call.body.model_dump(mode="json") if call.body is not None else None
    canonical = json.dumps({"body": body, "path": call.path}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_idempotent(
    call: Call[Any, Any], produce: Callable[[], Awaitable[Response]]
) -> Response:
    key = call.request.headers.get(HEADER)
    if key is None:
        return await produce()
    if not KEY_PATTERN.fullmatch(key):
        raise DomainError("idempotency_key_invalid", status=400)
    principal = getattr(getattr(call.principal, "user", None), "id", "anonymous")
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    redis = call.platform.redis
    slot = call.platform.keys(
        "idem", str(principal), call.request.method, call.request.url.path, digest
    )
    fingerprint = _fingerprint(call)
    try:
        claimed = await redis.set(
            slot,
            json.dumps({"state": "running", "fp": fingerprint}),
            nx=True,
            ex=IN_PROGRESS_TTL_SECONDS,
        )
        raw = None if claimed else await redis.get(slot)
    except UNREACHABLE as exc:
        # Without Redis the request runs unrecorded: every idempotent write is also keyed in
        # PostgreSQL (orders by the key's hash, ledger dedupe keys, one open payment session
        # per target, refunds by key), so a retry still cannot do the work twice.
        log.warning("idempotency records unavailable, running unrecorded: %s", type(exc).__name__)
        return await produce()
    if not claimed:
        stored = json.loads(raw) if raw else None
        if stored is None:  # expired between SET and GET: treat as new
            return await run_idempotent(call, produce)
        if stored["fp"] != fingerprint:
            raise DomainError("idempotency_key_reused", status=422)
        if stored["state"] == "running":
            raise Conflict("idempotency_in_progress", headers={"Retry-After": "1"})
        replay = Response(
            stored["body"].encode(), status_code=stored["status"], media_type=stored["media_type"]
        )
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    try:
        response = await produce()
    except BaseException:
        await _forget(redis, slot)  # a retry runs again (and finds committed work by its key)
        raise
    if 200 <= response.status_code < 300:
        record = {
            "state": "done",
            "fp": fingerprint,
            "status": response.status_code,
            "body": bytes(response.body).decode(),
            "media_type": response.media_type or "application/json",
        }
        try:
            await redis.set(slot, json.dumps(record), ex=TTL_SECONDS)
        except UNREACHABLE as exc:  # the work is committed: answer it, never an error
            log.warning("idempotency record not stored: %s", type(exc).__name__)
            await _forget(redis, slot)
    else:
        await _forget(redis, slot)
    return response


async def _forget(redis: Redis, slot: str) -> None:
    # If Redis cannot take it, the in-progress claim expires by itself (IN_PROGRESS_TTL).
    with contextlib.suppress(*UNREACHABLE):
        await redis.delete(slot)
