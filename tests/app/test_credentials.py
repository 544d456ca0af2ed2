"""Database credential rotation (`asoud db rotate-credentials` / `retire-credentials`) against
the real PostgreSQL: the new login works at once, the old one keeps working until retired."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest

from asoud.platform.credentials import CredentialError, login_url, retire_login
from tests.conftest import ADMIN_URL, _admin, _database_url


@pytest.fixture
async def database() -> AsyncIterator[tuple[str, str]]:
    """A throwaway database and a group role name unique to this test."""
    suffix = secrets.token_hex(4)
    name, group = f"asoud_cred_{suffix}", f"asoud_app_{suffix}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield _database_url(name), group
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            roles = await conn.fetch(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"{group}%"
            )
            for role in sorted((r["rolname"] for r in roles), key=len, reverse=True):
                await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await conn.close()


async def _cli(*args: str, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asoud",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def _rotate(admin_url: str, group: str, user: str, password: str) -> None:
    code, output = await _cli(
        "db",
        "rotate-credentials",
        "--user",
        user,
        "--group",
        group,
        ASOUD_DATABASE_ADMIN_URL=admin_url,
        ASOUD_NEW_DATABASE_PASSWORD=password,
    )
    assert code == 0, output
    assert password not in output


async def _whoami(url: str) -> tuple[str, str, int]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT session_user, current_user, (SELECT count(*) FROM identity_user) AS users"
        )
        assert row is not None
        return row["session_user"], row["current_user"], row["users"]
    finally:
        await conn.close()


async def test_dual_user_rotation_keeps_both_logins_working_until_retirement(
    database: tuple[str, str],
) -> None:
    admin_url, group = database
    first, second = f"{group}_1", f"{group}_2"
    conn = await asyncpg.connect(admin_url)
    try:  # a table made before rotation existed, by another user
        await conn.execute("CREATE TABLE legacy_notes (id serial PRIMARY KEY, body text)")
    finally:
        await conn.close()
    first_password, second_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    await _rotate(admin_url, group, first, first_password)
    first_url = login_url(admin_url, first, first_password)

    # The app migrates as the first login; what it creates belongs to the group.
    code, output = await _cli(
        "migrate",
        ASOUD_DATABASE_URL=first_url,
        ASOUD_REDIS_URL="memory://",
    )
    assert code == 0, output
    conn = await asyncpg.connect(admin_url)
    try:
        owner = await conn.fetchval(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'identity_user'"
        )
    finally:
        await conn.close()
    assert owner == group
    held = await asyncpg.connect(first_url)
    await held.execute(
        "ALTER TABLE legacy_notes ADD COLUMN author text"
    )  # adopted by the group  # a pod of the old version, still connected

    await _rotate(admin_url, group, second, second_password)
    second_url = login_url(admin_url, second, second_password)
    assert await _whoami(second_url) == (second, group, 0)  # the new login works at once
    assert await _whoami(first_url) == (first, group, 0)  # and the old one still does
    assert await held.fetchval("SELECT count(*) FROM identity_user") == 0

    code, output = await _cli(
        "db",
        "retire-credentials",
        "--user",
        first,
        "--group",
        group,
        ASOUD_DATABASE_ADMIN_URL=admin_url,
    )
    assert code == 0 and f"login {first} retired" in output, output
    with pytest.raises((asyncpg.PostgresError, ConnectionError, OSError)):
        await _whoami(first_url)  # no new sessions
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
        await held.fetchval("SELECT 1")  # and the open one was ended
    assert await _whoami(second_url) == (second, group, 0)  # nothing the app owns was lost
    assert await retire_login(admin_url, first, group) is False  # a retried Job: nothing to do


async def test_refuses_unsafe_names_short_passwords_and_foreign_roles(
    database: tuple[str, str],
) -> None:
    admin_url, group = database
    code, output = await _cli(
        "db",
        "rotate-credentials",
        "--user",
        'x"; DROP ROLE postgres; --',
        "--group",
        group,
        ASOUD_DATABASE_ADMIN_URL=admin_url,
        ASOUD_NEW_DATABASE_PASSWORD=secrets.token_urlsafe(24),
    )
    assert code == 2 and "not a safe role name" in output
    code, output = await _cli(
        "db",
        "rotate-credentials",
        "--user",
        f"{group}_1",
        "--group",
        group,
        ASOUD_DATABASE_ADMIN_URL=admin_url,
        ASOUD_NEW_DATABASE_PASSWORD="short",
    )
    assert code == 2 and "at least 24" in output
    with pytest.raises(CredentialError, match="not a login of"):
        await retire_login(admin_url, "postgres", group)
    with pytest.raises(CredentialError, match="group role"):
        await retire_login(admin_url, group, group)
