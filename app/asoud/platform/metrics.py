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


class _RouteMetrics:
    """The labelled children of one route and method, looked up once (``labels()`` builds a
    key and takes a lock on every call)."""

    __slots__ = ("duration", "queries", "requests", "transactions")

    def __init__(self, template: str, method: str) -> None:
        self.requests = {
            status: HTTP_REQUESTS.labels(template, method, status)
            for status in ("1xx", "2xx", "3xx", "4xx", "5xx")
        }
        self.duration = HTTP_DURATION.labels(template, method)
        self.queries = DB_QUERIES_PER_REQUEST.labels(template)
        self.transactions = DB_TRANSACTION_STATEMENTS.labels(template)


_ROUTE_METRICS: dict[tuple[str, str], _RouteMetrics] = {}
_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_metrics(template: str, method: str) -> _RouteMetrics:
    found = _ROUTE_METRICS.get((template, method))
    if found is None:  # bounded: templates and methods come from the route table
        found = _ROUTE_METRICS[(template, method)] = _RouteMetrics(template, method)
    return found


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
                if method not in KNOWN_METHODS:
                    method = "OTHER"  # a client's invented method must not mint a series
                children = _route_metrics(template, method)
                children.requests[_STATUS_CLASSES.get(status // 100, "5xx")].inc()
                children.duration.observe(time.perf_counter() - started)
                children.queries.observe(queries.count)
                if queries.transaction_control:
                    children.transactions.inc(queries.transaction_control)


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
