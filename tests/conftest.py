"""Shared fixtures: a real PostgreSQL database and Redis key prefix per test run.

Nothing of the platform is faked here. When PostgreSQL or Redis is unreachable the run stops
with one line saying what to start (``.ci/run`` starts both before calling pytest).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from asoud.app import create_app
from asoud.platform import database
from asoud.platform.keyring import new_keyring, write_keyring
from asoud.platform.settings import Settings, load_settings
from asoud.runtime import Platform
from tests.support.market import Actor, actor

ADMIN_URL = os.environ.get(
    "ASOUD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ASOUD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = secrets.token_hex(4)


def _database_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _check_services() -> str | None:
    try:
        conn = await asyncpg.connect(ADMIN_URL, timeout=5)
        await conn.close()
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL is not reachable at {ADMIN_URL} ({type(exc).__name__}): start it or set ASOUD_TEST_DATABASE_URL"
    redis = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await redis.ping()
    except Exception as exc:
        return f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}): start it or set ASOUD_TEST_REDIS_URL"
    finally:
        await redis.aclose()
    return None


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    keyring = tmp_path / "keyring.json"
    if not keyring.exists():
        write_keyring(keyring, new_keyring())
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "database_pool_max": 20,
        "redis_url": REDIS_URL,
        "redis_key_prefix": f"asoud-test:{RUN_ID}:{secrets.token_hex(4)}:",
        "secret_key": "test-secret-" + "x" * 40,
        "jwt_keyring_file": keyring,
        "keyring_reload_interval_seconds": 0,
        "sms_provider": "outbox",
        "sms_international_provider": "outbox",
        "metrics_port": 0,  # the API's /metrics on its own port; tests that need more set it
    }
    values.update(overrides)
    return load_settings(environ={}, **values)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    problem = asyncio.run(_check_services())
    if problem:
        pytest.exit(problem, returncode=3)
    name = f"asoud_test_{RUN_ID}"
    url = _database_url(name)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(
            database.migrate(load_settings(environ={}, database_url=url), report=lambda _: None)
        )
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(_delete_run_keys())


async def _delete_run_keys() -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        batch = [key async for key in redis.scan_iter(match=f"asoud-test:{RUN_ID}:*", count=1000)]
        for start in range(0, len(batch), 500):
            await redis.delete(*batch[start : start + 500])
    finally:
        await redis.aclose()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change settings for its app."""
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, settings_overrides: dict[str, Any]) -> Settings:
    overrides = dict(settings_overrides)
    return make_settings(overrides.pop("database_url", database_url), tmp_path, **overrides)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        conn = await asyncpg.connect(settings.database_url)
        try:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'tortoise_migrations'"
            )
            await conn.execute(
                "TRUNCATE " + ", ".join(f'"{row["tablename"]}"' for row in tables) + " CASCADE"
            )
        finally:
            await conn.close()
        yield application


@pytest.fixture
def platform(app: Starlette) -> Platform:
    return app.state.platform  # type: ignore[no-any-return]


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


# People of the marketplace tests (each test starts from empty tables, so numbers may repeat).


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Actor:
    return await actor(client, platform, "09121000001")


@pytest.fixture
async def staff(client: httpx.AsyncClient, platform: Platform) -> Actor:
    return await actor(client, platform, "09121000002", staff=True)


@pytest.fixture
async def buyer(client: httpx.AsyncClient, platform: Platform) -> Actor:
    return await actor(client, platform, "09121000003")
