"""Probes: liveness needs nothing; readiness needs the database.

Redis is reported but does not make a pod unready: every pod shares the same Redis, so
failing readiness on it would take all of them out of the Service at once and turn a
degraded platform (catalogue from PostgreSQL, 503 only where Redis is essential) into a
total outage. The same holds in principle for PostgreSQL, but a pod that cannot reach it
can answer nothing useful."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from asoud.platform import database
from asoud.platform.http import Api, Call

log = logging.getLogger("asoud.health")
api = Api()
PROBE_TIMEOUT_SECONDS = 2.0


class Health(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, Literal["ok", "fail"]] = {}


@api.endpoint(
    "GET",
    "/livez",
    summary="Liveness",
    tags=["probes"],
    responses={200: Health},
    rate_limited=False,
)
async def livez(call: Call[Any, Any]) -> Health:
    return Health(status="ok")


@api.endpoint(
    "GET",
    "/readyz",
    summary="Readiness (database; Redis reported as degraded)",
    tags=["probes"],
    responses={200: Health, 503: Health},
    rate_limited=False,
)
async def readyz(call: Call[Any, Any]) -> Response:
    async def check(name: str, probe: Any) -> tuple[str, Literal["ok", "fail"]]:
        try:
            await asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS)
            return name, "ok"
        except Exception as exc:  # any failure means "not ready"; the reason stays in the log
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            return name, "fail"

    results = dict(
        await asyncio.gather(
            check("database", database.ping_database),
            check("redis", call.platform.redis.ping),
        )
    )
    ready = results["database"] == "ok"
    status: Literal["ok", "degraded", "unavailable"] = (
        "unavailable" if not ready else "ok" if results["redis"] == "ok" else "degraded"
    )
    body = Health(status=status, checks=results)
    return JSONResponse(
        body.model_dump(), status_code=200 if ready else 503, headers={"Cache-Control": "no-store"}
    )
