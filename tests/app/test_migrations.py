"""Schema migrations: committed files match the models; concurrent migrators never collide."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import asoud
from asoud.platform.database import MIGRATION_LOCK_KEY
from tests.conftest import _admin, _database_url

ALL_MIGRATIONS = sorted(
    f"asoud.{path.stem}" for path in (Path(asoud.__file__).parent / "migrations").glob("0*.py")
)


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    name = f"asoud_mig_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield _database_url(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate_process(database_url: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "ASOUD_DATABASE_URL": database_url, "ASOUD_ENVIRONMENT": "test"}
    return asyncio.create_subprocess_exec(  # type: ignore[return-value]
        sys.executable,
        "-m",
        "asoud",
        "migrate",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _applied(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT app, name FROM tortoise_migrations ORDER BY id")
    finally:
        await conn.close()
    return [f"{row['app']}.{row['name']}" for row in rows]


async def test_two_concurrent_migrators_apply_each_migration_once(empty_database: str) -> None:
    first, second = await asyncio.gather(
        _migrate_process(empty_database), _migrate_process(empty_database)
    )
    outputs = await asyncio.gather(first.communicate(), second.communicate())
    assert first.returncode == 0 and second.returncode == 0, outputs
    texts = sorted(out.decode() for out, _ in outputs)
    # one applied everything, the other waited for the lock and found nothing to do
    assert "applied asoud.0001_initial" in texts[0]
    assert texts[1].strip() == "no migrations to apply"
    assert await _applied(empty_database) == ALL_MIGRATIONS  # each exactly once


async def test_migrator_waits_for_the_advisory_lock(empty_database: str) -> None:
    holder = await asyncpg.connect(empty_database)  # advisory locks are per database
    await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        process = await _migrate_process(empty_database)
        # Wait (by event, not by clock) until the migrator is queued behind our lock.
        for _ in range(600):
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting == 1
        conn = await asyncpg.connect(empty_database)
        try:
            assert await conn.fetchval("SELECT to_regclass('identity_user')") is None
        finally:
            await conn.close()
    finally:
        await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        await holder.close()
    out, _ = await process.communicate()
    assert process.returncode == 0 and b"applied asoud.0001_initial" in out
    assert await _applied(empty_database) == ALL_MIGRATIONS


def test_committed_migrations_match_the_models() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "asoud", "db", "makemigrations", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no changes detected" in result.stdout
