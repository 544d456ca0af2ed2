"""HTTP RED metrics, labelled by route template (never raw paths), and the /metrics endpoint."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asoud.platform.database import count_queries

if TYPE_CHECKING:
    from asoud.runtime import Platform

# 0.2 s is the latency SLO threshold, so it must be an exact bucket boundary.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)
QUERY_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50)

HTTP_REQUESTS = Counter(
    "asoud_http_requests", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "asoud_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge("asoud_http_requests_in_flight", "HTTP requests being answered")
DB_QUERIES_PER_REQUEST = Histogram(
    "asoud_db_queries_per_request",
    "SQL statements per HTTP request",
    ["route"],
    buckets=QUERY_BUCKETS,
)
DB_TRANSACTION_STATEMENTS = Counter(
    "asoud_db_transaction_statements",
    "Transaction control round trips (BEGIN, COMMIT, SAVEPOINT...) sent by HTTP requests",
    ["route"],
)
DB_QUERY_DURATION = Histogram(
    "asoud_db_query_duration_seconds", "Duration of one SQL statement", buckets=LATENCY_BUCKETS
)

UNMATCHED_ROUTE = "<unmatched>"


class MetricsMiddleware:
    """Plain ASGI (not BaseHTTPMiddleware) so context variables reach the handlers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_IN_FLIGHT.inc()
        with count_queries() as queries:
            queries.observers.append(DB_QUERY_DURATION.observe)
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                HTTP_IN_FLIGHT.dec()
                route = scope.get("route")
                template = getattr(route, "path", None) or UNMATCHED_ROUTE
                method = scope["method"]
                HTTP_REQUESTS.labels(template, method, f"{status // 100}xx").inc()
                HTTP_DURATION.labels(template, method).observe(time.perf_counter() - started)
                DB_QUERIES_PER_REQUEST.labels(template).observe(queries.count)
                if queries.transaction_control:
                    DB_TRANSACTION_STATEMENTS.labels(template).inc(queries.transaction_control)


BACKLOG_INTERVAL_SECONDS = 10.0


async def measure_backlog_every(platform: Platform, seconds: float) -> None:
    """The task backlog gauge, refreshed in the background (the metrics port's server reads
    the registry from its own thread and cannot ask Redis)."""
    from asoud.background.broker import measure_backlog

    while True:
        await measure_backlog(platform.redis, platform.keys("tasks"))
        await asyncio.sleep(seconds)


async def metrics_endpoint(request: Request) -> Response:
    platform = request.app.state.platform
    if not platform.settings.uses_embedded_redis:
        from asoud.background.broker import measure_backlog

        await measure_backlog(platform.redis, platform.keys("tasks"))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
