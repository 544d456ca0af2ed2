"""The ASGI application factory: the composition root of the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from asoud import __version__
from asoud.background import routes as background_routes
from asoud.catalog import routes as catalog_routes
from asoud.currencies import routes as currency_routes
from asoud.discounts import routes as discount_routes
from asoud.identity import auth
from asoud.identity import routes as identity_routes
from asoud.markets import routes as market_routes
from asoud.notifications import routes as notification_routes
from asoud.observability.sentry import init_sentry
from asoud.orders import routes as order_routes
from asoud.payments import routes as payment_routes
from asoud.platform import health
from asoud.platform.errors import (
    DomainError,
    domain_error_handler,
    http_error_handler,
    unhandled_error_handler,
)
from asoud.platform.http import Api
from asoud.platform.metrics import (
    BACKLOG_INTERVAL_SECONDS,
    MetricsMiddleware,
    measure_backlog_every,
    metrics_endpoint,
)
from asoud.platform.middleware import RequestContextMiddleware
from asoud.platform.openapi import docs_routes
from asoud.platform.routing import FastLane, IndexedRouter
from asoud.platform.settings import Settings, load_settings
from asoud.runtime import Platform
from asoud.taxonomy import routes as taxonomy_routes
from asoud.wallet import routes as wallet_routes

# Every domain's endpoint registry, in the order they appear in the documentation.
DOMAIN_APIS: list[Api] = [
    health.api,
    identity_routes.api,
    taxonomy_routes.api,
    market_routes.api,
    catalog_routes.api,
    order_routes.api,
    discount_routes.api,
    wallet_routes.api,
    payment_routes.api,
    background_routes.api,
    notification_routes.api,
    currency_routes.api,
]


def build_api() -> Api:
    root = Api()
    for domain_api in DOMAIN_APIS:
        root.endpoints.extend(domain_api.endpoints)
    root.authenticator = auth.authenticate
    root.limiter = auth.general_limits
    return root


def tune_garbage_collector() -> None:
    """Everything loaded at start-up (modules, ORM metadata, routes) lives as long as the
    process: freeze it out of the collector's scans, and collect the young generation less
    often. A full collection of the default heap stopped the event loop for ~50 ms about once
    a second under load (py-spy), which was most of the p99."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    init_sentry(settings)
    platform = Platform.create(settings)
    api = build_api()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await platform.start()
        tune_garbage_collector()
        measuring = (
            None
            if settings.uses_embedded_redis
            else asyncio.create_task(measure_backlog_every(platform, BACKLOG_INTERVAL_SECONDS))
        )
        try:
            yield
        finally:
            if measuring is not None:
                measuring.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await measuring
            await platform.close()

    # /metrics is served on its own port (ASOUD_METRICS_PORT, by `asoud serve`); only a
    # development setup with that port at 0 serves it here.
    metrics_here = [Route("/metrics", metrics_endpoint, methods=["GET"])]
    routes = [
        *api.routes(),
        *(metrics_here if settings.metrics_port == 0 else []),
        *docs_routes(
            api,
            title="ASOUD API",
            version=__version__,
            deployment={"payment_gateways": list(settings.payment_gateways)},
        ),
    ]
    # Without configured origins CORS answers nothing a browser could use: no layer at all.
    cors = (
        [
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_allow_origins),
                allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "Idempotency-Key",
                    "Accept-Language",
                    "X-Request-ID",
                ],
                expose_headers=[
                    "X-Request-ID",
                    "Retry-After",
                    "RateLimit-Limit",
                    "RateLimit-Remaining",
                    "RateLimit-Reset",
                    "API-Version",
                    "ETag",
                ],
                max_age=600,
            )
        ]
        if settings.cors_allow_origins
        else []
    )
    router = IndexedRouter(routes, lifespan=lifespan)
    app = Starlette(
        debug=False,  # tracebacks never reach a response, whatever ASOUD_DEBUG says
        middleware=[
            Middleware(MetricsMiddleware),
            Middleware(
                RequestContextMiddleware,
                hsts=settings.is_production,
                trusted_proxy_hops=settings.trusted_proxy_hops,
            ),
            *cors,
            Middleware(FastLane, router=router),
        ],
        exception_handlers={
            DomainError: domain_error_handler,
            HTTPException: http_error_handler,
            Exception: unhandled_error_handler,
        },
    )
    # Our router (routes and lifespan) in place of Starlette's empty one, before the first
    # request builds the middleware stack around it.
    app.router = router
    app.state.platform = platform
    app.state.api = api
    return app
