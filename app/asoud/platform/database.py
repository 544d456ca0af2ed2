"""Tortoise ORM set-up, SQL query counting and the advisory-locked migrator."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from tortoise import connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext
from tortoise.fields import DatetimeField
from tortoise.models import Model

from asoud.platform.settings import Settings

log = logging.getLogger("asoud.database")
ModelT = TypeVar("ModelT", bound=Model)

APP_LABEL = "asoud"
# Every domain folder that owns tables lists its models module here.
MODEL_MODULES: list[str] = [
    "asoud.identity.models",
    "asoud.taxonomy.models",
    "asoud.markets.models",
    "asoud.catalog.models",
    "asoud.orders.models",
    "asoud.discounts.models",
    "asoud.wallet.models",
    "asoud.payments.models",
    "asoud.background.models",
    "asoud.notifications.models",
    "asoud.currencies.models",
]
MIGRATIONS_MODULE = "asoud.migrations"
# pg_advisory_lock key shared by every `asoud migrate` against the same database ("asoudmig").
MIGRATION_LOCK_KEY = 0x61736F75646D6967


@dataclass
class QueryStats:
    """SQL statements sent to the server within one unit of work (a request, a task)."""

    count: int = 0  # queries: statements that read or write data
    transaction_control: int = 0  # BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE
    seconds: float = 0.0
    observers: list[Callable[[float], None]] = field(default_factory=list)


_query_stats: ContextVar[QueryStats | None] = ContextVar("asoud_query_stats", default=None)


@contextlib.contextmanager
def count_queries() -> Iterator[QueryStats]:
    """Count the SQL statements the current task (and tasks it spawns) sends to PostgreSQL."""
    stats = QueryStats()
    token = _query_stats.set(stats)
    try:
        yield stats
    finally:
        _query_stats.reset(token)


# Transaction control is a round trip but not a query; like Rails' SQLCounter and Django's
# assertNumQueries, the per-request budget counts only statements that touch data.
_TRANSACTION_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


def _record_query(started: float, transaction_control: bool = False) -> None:
    stats = _query_stats.get()
    if stats is not None:
        elapsed = time.perf_counter() - started
        if transaction_control:
            stats.transaction_control += 1
        else:
            stats.count += 1
        stats.seconds += elapsed
        for observe in stats.observers:
            observe(elapsed)


class CountingConnection(asyncpg.Connection):  # type: ignore[misc]
    """asyncpg connection that reports every round trip, inside transactions too.

    Counting at the driver rather than in Tortoise catches queries inside transactions, raw
    SQL and anything a future Tortoise version routes differently; transaction control is
    told apart from queries.
    """

    _housekeeping = False

    def get_reset_query(self) -> str:
        # asyncpg sends "advisory unlock all; CLOSE ALL; UNLISTEN *; RESET ALL" on every release
        # to the pool: one more round trip per query outside a transaction. ASOUD never LISTENs,
        # changes session settings or keeps cursors, and the migrator unlocks its advisory lock
        # itself; an open transaction is still rolled back by asyncpg before this runs.
        return ""

    async def reset(self, *, timeout: float | None = None) -> None:
        # The pool's reset on release (a ROLLBACK if needed) is not the caller's query.
        self._housekeeping = True
        try:
            await super().reset(timeout=timeout)
        finally:
            self._housekeeping = False

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        if args or self._housekeeping:  # delegates to _execute, which counts
            return await super().execute(query, *args, timeout=timeout)  # type: ignore[no-any-return]
        started = time.perf_counter()
        try:
            return await super().execute(query, timeout=timeout)  # type: ignore[no-any-return]
        finally:
            _record_query(started, bool(_TRANSACTION_CONTROL.match(query)))

    async def _execute(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super()._execute(*args, **kwargs)
        finally:
            _record_query(started)

    async def _executemany(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super()._executemany(*args, **kwargs)
        finally:
            _record_query(started)


_PG_PLACEHOLDER = re.compile(r"\$\d+")


def on_postgres() -> bool:
    """Whether the default connection is PostgreSQL (hand-written statements that only it
    understands fall back to the ORM on the embedded SQLite)."""
    return bool(connections.get("default").capabilities.dialect == "postgres")


async def fetch_sql(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """Run fixed SQL written for PostgreSQL ($1, $2 ..., a number may repeat) on either dialect.

    For hot paths where one hand-written statement (an upsert, a join) replaces several ORM
    round trips; on PostgreSQL it becomes a cached prepared statement.
    """
    client = connections.get("default")
    if client.capabilities.dialect == "sqlite":  # positional "?" and UUIDs stored as text
        order = [int(match[1:]) - 1 for match in _PG_PLACEHOLDER.findall(sql)]
        sql = _PG_PLACEHOLDER.sub("?", sql)
        params = [str(p) if isinstance(p, uuid.UUID) else p for p in (params[i] for i in order)]
    rows: list[dict[str, Any]] = await client.execute_query_dict(sql, list(params))
    return rows


class SelectModels:
    """``SELECT`` every column of each (model, alias) as ``alias."col" AS "alias.col"``, then
    ``rest`` (FROM, joins, WHERE): one prepared statement that joins several tables and still
    yields whole models (``model_of``). Columns in ``omit`` (a large search vector) come back
    NULL. The SQL is built on first use: Tortoise adds foreign-key columns to a model only
    when it initialises."""

    def __init__(
        self,
        rest: str,
        *models: tuple[type[Model], str],
        omit: frozenset[str] = frozenset(),
        also: str = "",
    ) -> None:
        """``also``: more select expressions after the models' columns (aggregates, say)."""
        self.rest, self.models, self.omit, self.also = rest, models, omit, also

    @functools.cached_property
    def sql(self) -> str:
        columns = ", ".join(
            f'NULL AS "{alias}.{column}"'
            if column in self.omit
            else f'{alias}."{column}" AS "{alias}.{column}"'
            for model, alias in self.models
            for column in model._meta.fields_db_projection.values()
        )
        also = f", {self.also}" if self.also else ""
        return f"SELECT {columns}{also} {self.rest}"

    async def fetch(self, params: Sequence[Any]) -> list[dict[str, Any]]:
        return await fetch_sql(self.sql, params)


def model_of(model: type[ModelT], row: Mapping[str, Any], alias: str) -> ModelT:
    """The ``model`` instance that a ``SelectModels`` row carries under ``alias``, converted as
    the ORM converts its rows, without the ORM's query building."""
    prefix = alias + "."
    cut = len(prefix)
    return model._init_from_db(
        **{key[cut:]: value for key, value in row.items() if key.startswith(prefix)}
    )


async def save_changes(instance: Model, changes: Mapping[str, Any]) -> None:
    """Set and write only these fields (and the row's ``auto_now`` timestamps).

    A full ``save()`` writes every column from the instance as it was read, so a counter that
    a conditional UPDATE moved in between (stock held by a checkout, a discount's uses, a
    status changed by staff) would be silently put back. Edits must never do that.
    """
    if not changes:
        return
    for name, value in changes.items():
        setattr(instance, name, value)
    stamps = [
        name
        for name, field in instance._meta.fields_map.items()
        if isinstance(field, DatetimeField) and field.auto_now
    ]
    await instance.save(update_fields=[*changes, *(s for s in stamps if s not in changes)])


def connection_config(settings: Settings) -> dict[str, Any]:
    expanded: dict[str, Any] = expand_db_url(_normalise_url(settings.database_url))
    credentials = expanded["credentials"]
    if expanded["engine"] == "tortoise.backends.asyncpg":
        credentials.update(
            minsize=settings.database_pool_min,
            maxsize=settings.database_pool_max,
            connection_class=CountingConnection,
            server_settings={
                "statement_timeout": str(settings.database_statement_timeout_ms),
                # Catalogue search matches every language's words without stemming.
                "default_text_search_config": "pg_catalog.simple",
                "application_name": "asoud",
            },
        )
    elif expanded["engine"] == "tortoise.backends.sqlite":
        path = Path(credentials["file_path"])
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
    return expanded


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(settings)},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _normalise_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://"):
        if url.startswith(prefix):
            return "postgres://" + url[len(prefix) :]
    return url


async def init_database(settings: Settings) -> TortoiseContext:
    """Open the ORM for this process; pass the result to :func:`close_database`."""
    ctx = TortoiseContext()
    ctx.__enter__()
    # Global fallback: uvicorn runs the lifespan in its own task, requests in others.
    await ctx.init(config=tortoise_config(settings), _enable_global_fallback=True)
    return ctx


async def close_database(ctx: TortoiseContext) -> None:
    await ctx.close_connections()  # also clears the global fallback
    # Closed from another task than the one that opened it (taskiq runs its startup and
    # shutdown events in different contexts), the context variable cannot be reset here:
    # it dies with the task that set it.
    with contextlib.suppress(ValueError):
        ctx.__exit__(None, None, None)


async def ping_database() -> None:
    await connections.get("default").execute_query("SELECT 1")


def asyncpg_dsn(url: str) -> str:
    """Any of the accepted PostgreSQL URL spellings, as asyncpg wants it."""
    return "postgresql://" + _normalise_url(url).split("://", 1)[1]


@contextlib.asynccontextmanager
async def migration_lock(settings: Settings) -> AsyncIterator[None]:
    """Hold the database's migration lock; a second migrator waits here, then finds no work."""
    if settings.uses_sqlite:
        yield  # a single embedded process: nothing to race with
        return
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url).split("?", 1)[0])
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()


async def migrate(settings: Settings, report: Callable[[str], None] = print) -> list[str]:
    """Apply pending migrations under the advisory lock; returns the names applied."""
    from tortoise.migrations.api import migrate as tortoise_migrate

    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")
            report(f"applied {app_label}.{name}")

    async with migration_lock(settings), TortoiseContext():
        await tortoise_migrate(config=tortoise_config(settings), progress=progress)
    if not applied:
        report("no migrations to apply")
    return applied
