"""Database credential rotation with two login roles (the dual-user scheme).

The application's privileges belong to a NOLOGIN *group* role. Each login role is a member
that runs as the group (``ALTER ROLE … SET role``), so every table it creates belongs to the
group and an old login can be dropped without moving anything. Rotation therefore is:
create a new login (works at once), point the app at it (rolling restart), and after the
retention window retire the old login (which kept working meanwhile).

Run by ``asoud db rotate-credentials`` / ``asoud db retire-credentials`` in a Job the operator
starts, with an administrator's URL; the operator never connects to PostgreSQL itself.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from asoud.platform.database import asyncpg_dsn

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class CredentialError(ValueError):
    """A role name is unsafe, or the group/login is not in the expected state."""


def _role(name: str) -> str:
    if not _ROLE_NAME.match(name):
        raise CredentialError(f"not a safe role name: {name!r}")
    return f'"{name}"'


async def ensure_group(conn: asyncpg.Connection, group: str) -> None:
    """The NOLOGIN role that holds the app's privileges on this database and schema."""
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", group)
    if not exists:
        await conn.execute(f"CREATE ROLE {_role(group)} NOLOGIN")
    database = await conn.fetchval("SELECT current_database()")
    await conn.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {_role(group)}')
    await conn.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {_role(group)}")
    # Adopt what an earlier (pre-rotation) user created, so migrations run by the new logins
    # can alter those tables and the earlier user can later be dropped.
    owned = await conn.fetch(
        "SELECT c.relname, c.relkind::text AS relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm') "
        "AND pg_get_userbyid(c.relowner) <> $1 "
        # a serial's sequence follows its table
        "AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d "
        "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))",
        group,
    )
    kinds = {"r": "TABLE", "p": "TABLE", "S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
    for row in owned:
        name = row["relname"].replace('"', '""')
        await conn.execute(f'ALTER {kinds[row["relkind"]]} public."{name}" OWNER TO {_role(group)}')


async def create_login(admin_url: str, group: str, user: str, password: str) -> None:
    """A new login role in ``group`` that acts as the group; usable as soon as this returns.

    Idempotent: a re-run (a retried Job) resets the password of the same login."""
    if len(password) < 24:
        raise CredentialError("the new password must have at least 24 characters")
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        async with conn.transaction():
            await ensure_group(conn, group)
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", user)
            verb = "ALTER" if exists else "CREATE"
            # Parameters cannot be bound in utility statements; quote the literal safely.
            secret = await conn.fetchval("SELECT quote_literal($1)", password)
            await conn.execute(f"{verb} ROLE {_role(user)} LOGIN INHERIT PASSWORD {secret}")
            await conn.execute(f"GRANT {_role(group)} TO {_role(user)}")
            await conn.execute(f"ALTER ROLE {_role(user)} SET role = {_role(group)}")
    finally:
        await conn.close()


async def retire_login(admin_url: str, user: str, group: str) -> bool:
    """Close the old login: no new sessions, open ones ended, role dropped. False if absent.

    Refuses to drop the group itself or a role that is not a member of it."""
    if user == group:
        raise CredentialError("refusing to drop the group role")
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", user)
        if not exists:
            return False
        member = await conn.fetchval(
            "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = $1 AND u.rolname = $2",
            group,
            user,
        )
        if not member:
            raise CredentialError(f"{user} is not a login of {group}; not dropping it")
        await conn.execute(f"ALTER ROLE {_role(user)} NOLOGIN")
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", user
        )
        async with conn.transaction():
            await conn.execute(f"REASSIGN OWNED BY {_role(user)} TO {_role(group)}")
            await conn.execute(f"DROP OWNED BY {_role(user)}")
            await conn.execute(f"DROP ROLE {_role(user)}")
        return True
    finally:
        await conn.close()


def login_url(template_url: str, user: str, password: str) -> str:
    """The app's database URL with the login's user and password in place of the admin's."""
    parts = urlsplit(template_url)
    host = parts.hostname or "localhost"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
