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


_GENERATE_SCHEMA = """
import asyncio, sys
from tortoise import Tortoise
from asoud.platform.database import MODEL_MODULES

async def main():
    await Tortoise.init(db_url=sys.argv[1], modules={"asoud": MODEL_MODULES})
    await Tortoise.generate_schemas()
    await Tortoise.close_connections()

asyncio.run(main())
"""

_PG_INDEXES = """
SELECT t.relname AS "table", i.indisunique AS "unique",
       array_agg(a.attname ORDER BY k.n) AS "columns"
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = 'public'
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE t.relname NOT LIKE 'tortoise%' GROUP BY t.relname, i.indexrelid, i.indisunique
"""


async def _generate_schema(database_url: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _GENERATE_SCHEMA, database_url
    )
    return await asyncio.wait_for(process.wait(), 120)


async def _pg_indexes(database_url: str) -> set[tuple[str, bool, tuple[str, ...]]]:
    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        rows = await conn.fetch(_PG_INDEXES)
    finally:
        await conn.close()
    return {(r["table"], r["unique"], tuple(r["columns"])) for r in rows}


def _sqlite_indexes(path: Path) -> set[tuple[str, bool, tuple[str, ...]]]:
    import sqlite3

    found = set()
    with sqlite3.connect(path) as db:
        tables = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith(("sqlite_", "tortoise"))
        ]
        for table in tables:
            for _, name, unique, *_ in db.execute(f'PRAGMA index_list("{table}")'):
                columns = tuple(r[2] for r in db.execute(f'PRAGMA index_info("{name}")'))
                found.add((table, bool(unique), columns))
    return found


async def test_migrated_databases_keep_every_index_and_unique_constraint(
    empty_database: str, tmp_path: Path
) -> None:
    """Migrations that rebuild a SQLite table drop its indexes and unique constraints (add to
    cart failed with a 500 on the embedded default; duplicate discount codes were possible): on both dialects, the migrated
    schema has every index and unique constraint of a schema made from the models (and may
    have more: partial and search indexes are written by hand in the migrations)."""
    reference = empty_database.rsplit("/", 1)[0] + f"/asoud_ref_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{reference.rsplit("/", 1)[1]}"')
    try:
        migrate = await _migrate_process(empty_database)
        assert await migrate.wait() == 0
        assert await _generate_schema(reference) == 0
        declared = await _pg_indexes(reference)
        assert declared
        assert declared - await _pg_indexes(empty_database) == set()
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{reference.rsplit("/", 1)[1]}" WITH (FORCE)')

    migrated, generated = tmp_path / "migrated.sqlite3", tmp_path / "generated.sqlite3"
    migrate = await _migrate_process(f"sqlite://{migrated}")
    assert await migrate.wait() == 0
    assert await _generate_schema(f"sqlite://{generated}") == 0
    declared = _sqlite_indexes(generated)
    assert declared
    assert declared - _sqlite_indexes(migrated) == set()
    # and the partial unique indexes the migrations write by hand
    import sqlite3

    with sqlite3.connect(migrated) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"wallet_account_one_system", "payments_session_one_open"} <= names
