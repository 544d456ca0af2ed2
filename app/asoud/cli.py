"""The ``asoud`` command: serve, quick start, migrate, keys, users, tokens and benchmarks."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from asoud.platform.settings import ConfigurationError, Settings, load_settings

app = typer.Typer(
    help="ASOUD marketplace platform",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="JWT signing keyring", no_args_is_help=True)
users_app = typer.Typer(help="User accounts", no_args_is_help=True)
token_app = typer.Typer(help="Access tokens for operators and scripts", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
categories_app = typer.Typer(
    help="The category tree (markets are filed under its leaves)", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(token_app, name="token")
app.add_typer(db_app, name="db")
app.add_typer(categories_app, name="categories")
console = Console(stderr=True, soft_wrap=True)  # one problem, one line

T = TypeVar("T")
QUICKSTART_DIR = Path(".asoud")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigurationError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run a command's work; PostgreSQL or Redis out of reach is one line, not a traceback."""
    from asoud.platform.errors import unavailable_dependency

    async def main() -> T:
        return await coro_factory()

    try:
        return asyncio.run(main())
    except Exception as exc:
        dependency = unavailable_dependency(exc)
        if dependency is None:
            raise
        variable = "ASOUD_DATABASE_URL" if dependency == "database" else "ASOUD_REDIS_URL"
        console.print(
            f"[red]cannot reach the {dependency}[/red] ({type(exc).__name__}): "
            f"is it running, and is {variable} right?"
        )
        raise typer.Exit(1) from None


async def _with_database(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    from asoud.platform import database

    orm = await database.init_database(settings)
    try:
        return await work()
    finally:
        await database.close_database(orm)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Run the HTTP API (one process; run more pods, not more workers). Migrations are separate."""
    import uvicorn

    from asoud.app import create_app
    from asoud.platform.logging import configure_logging

    settings = _settings()
    configure_logging()
    try:
        application = create_app(settings)
    except ConfigurationError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    if settings.metrics_port:
        from prometheus_client import start_http_server

        # A port of its own: what Prometheus scrapes is never what the Ingress publishes.
        start_http_server(settings.metrics_port, addr=host)
    uvicorn.run(
        application,
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        access_log=False,
    )


@app.command()
def migrate() -> None:
    """Apply pending database migrations (PostgreSQL advisory lock: one migrator at a time)."""
    from asoud.platform import database

    settings = _settings()
    _run(lambda: database.migrate(settings, report=lambda line: print(line, flush=True)))


@db_app.command("makemigrations")
def makemigrations(
    name: Annotated[str | None, typer.Option(help="migration name")] = None,
    check: Annotated[
        bool, typer.Option(help="only report; exit 1 if a migration is missing")
    ] = False,
) -> None:
    """Write a migration for model changes into app/asoud/migrations (developers)."""
    from tortoise.migrations.autodetector import MigrationAutodetector
    from tortoise.migrations.writer import format_migration_name

    from asoud.platform.database import tortoise_config

    config = tortoise_config(_settings(database_url="sqlite://:memory:"))

    async def detect() -> list[str]:
        from tortoise.context import TortoiseContext

        async with TortoiseContext() as ctx:
            await ctx.init(config=config)
            assert ctx.apps is not None
            writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
        if check:
            return [writer.name for writer in writers]
        written = []
        for writer in writers:
            if name:
                writer.name = format_migration_name(int(writer.name.split("_", 1)[0]), name)
            written.append(str(writer.write()))
        return written

    written = _run(detect)
    if check and written:
        print("models changed without a migration: run `asoud db makemigrations`")
        raise typer.Exit(1)
    print("\n".join(written) if written else "no changes detected")


def _admin_url() -> str:
    url = os.environ.get("ASOUD_DATABASE_ADMIN_URL", "")
    if not url:
        console.print("[red]set ASOUD_DATABASE_ADMIN_URL[/red] (a role that may CREATE ROLE)")
        raise typer.Exit(2)
    return url


@db_app.command("rotate-credentials")
def rotate_credentials(
    user: Annotated[str, typer.Option(help="the new login role, e.g. asoud_app_20261125")],
    group: Annotated[str, typer.Option(help="the NOLOGIN role holding the app's rights")] = (
        "asoud_app"
    ),
) -> None:
    """Create (or reset) a login role acting as GROUP, with the password in
    ASOUD_NEW_DATABASE_PASSWORD; the previous login keeps working until retired.

    The administrator's URL comes from ASOUD_DATABASE_ADMIN_URL; secrets never go on the
    command line, where `ps` would show them."""
    from asoud.platform.credentials import CredentialError, create_login

    password = os.environ.get("ASOUD_NEW_DATABASE_PASSWORD", "")
    try:
        _run(lambda: create_login(_admin_url(), group, user, password))
    except CredentialError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    print(f"login {user} ready (member of {group})")


@db_app.command("retire-credentials")
def retire_credentials(
    user: Annotated[str, typer.Option(help="the old login role to drop")],
    group: Annotated[str, typer.Option(help="the group it must belong to")] = "asoud_app",
) -> None:
    """Retire an old login: no new sessions, open ones ended, role dropped."""
    from asoud.platform.credentials import CredentialError, retire_login

    try:
        dropped = _run(lambda: retire_login(_admin_url(), user, group))
    except CredentialError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    print(f"login {user} retired" if dropped else f"login {user} was already gone")


@keys_app.command("generate")
def keys_generate(
    out: Annotated[Path, typer.Option(help="keyring file to create")],
    algorithm: Annotated[str, typer.Option(help="ES256, RS256 or EdDSA")] = "ES256",
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Create a keyring with an active and a next key."""
    from asoud.platform.keyring import KeyringError, new_keyring, write_keyring

    if out.exists() and not force:
        console.print(f"[red]{out} exists[/red]; use --force to replace it (logs everyone out)")
        raise typer.Exit(1)
    try:
        ring = new_keyring(algorithm)
    except KeyringError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    write_keyring(out, ring)
    print(f"wrote {out}: active {ring.active.kid}")


@keys_app.command("rotate")
def keys_rotate(
    file: Annotated[Path, typer.Option(help="keyring file to rotate in place")],
) -> None:
    """One rotation step: retiring keys removed, active → retiring, next → active, new next."""
    from asoud.platform.keyring import KeyringError, read_keyring, rotate, write_keyring

    try:
        ring = rotate(read_keyring(file))
    except KeyringError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    write_keyring(file, ring)
    for key in ring.keys:
        print(f"{key.state.value:9} {key.kid} {key.alg}")


@users_app.command("create-staff")
def create_staff(phone: Annotated[str, typer.Option(help="mobile number")]) -> None:
    """Create a staff account, or promote an existing user to staff."""
    from asoud.identity.phone import normalise_phone
    from asoud.identity.services import ensure_staff

    try:
        normalised = normalise_phone(phone)
    except ValueError:
        console.print("[red]not a valid mobile number[/red]")
        raise typer.Exit(2) from None
    settings = _settings()
    user, created = _run(lambda: _with_database(settings, lambda: ensure_staff(normalised)))
    print(f"{'created' if created else 'promoted'} staff user {user.id}")


def _category_work(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run a category edit with the database and the shared cache (the API's cached tree is
    dropped, so every process shows the change at once); a refusal is one line, exit 1."""
    from asoud.platform.errors import DomainError
    from asoud.platform.i18n import translate
    from asoud.runtime import Platform

    settings = _settings()
    platform = Platform.create(settings)

    async def run() -> T:
        try:
            return await _with_database(settings, lambda: work(platform))
        finally:
            await platform.http.aclose()
            await platform.redis.aclose()

    try:
        return _run(run)
    except DomainError as refused:
        errors = refused.extra.get("errors") if refused.extra else None
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors or [])
        console.print(f"[red]{detail or translate(refused.code, 'en', **refused.params)[1]}[/red]")
        raise typer.Exit(1) from None


def _print_category(category: Any) -> None:
    fee = (
        f"  fee {category.subscription_fee:f} {category.fee_currency}"
        if category.subscription_fee is not None
        else ""
    )
    retired = "  (retired)" if category.retired_at else ""
    indent = "  " * (category.level - 1)
    print(f"{indent}{category.slug} [{category.id}] {category.names.get('en', '')}{fee}{retired}")


def _names(en: str | None, fa: str | None, ar: str | None, tr: str | None) -> dict[str, str]:
    return {
        lang: value
        for lang, value in (("en", en), ("fa", fa), ("ar", ar), ("tr", tr))
        if value is not None
    }


@categories_app.command("list")
def categories_list() -> None:
    """The whole tree with ids, fees and retired categories."""
    from asoud.taxonomy import services

    async def work(platform: Any) -> list[Any]:
        return await services.all_categories()

    rows = _category_work(work)
    children: dict[int | None, list[Any]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)

    def show(parent: int | None) -> None:
        for row in children.get(parent, []):
            _print_category(row)
            show(row.id)

    show(None)


@categories_app.command("create")
def categories_create(
    slug: Annotated[str, typer.Argument(help="e.g. books-new")],
    en: Annotated[str, typer.Option(help="name in English")],
    fa: Annotated[str, typer.Option(help="name in Persian")],
    ar: Annotated[str, typer.Option(help="name in Arabic")],
    tr: Annotated[str, typer.Option(help="name in Turkish")],
    parent: Annotated[str | None, typer.Option(help="slug of the parent (none: a group)")] = None,
    fee: Annotated[str | None, typer.Option(help="subscription fee (leaves only)")] = None,
    currency: Annotated[str, typer.Option(help="currency of the fee")] = "IRT",
    position: Annotated[int, typer.Option(help="order among its siblings")] = 0,
) -> None:
    """Create a group, a category or a leaf."""
    from asoud.taxonomy import services
    from asoud.taxonomy.schemas import CategoryCreate

    async def work(platform: Any) -> Any:
        parent_id = (await services.category_by_slug(parent)).id if parent else None
        data = CategoryCreate.model_validate(
            {
                "slug": slug,
                "names": {"en": en, "fa": fa, "ar": ar, "tr": tr},
                "parent_id": parent_id,
                "subscription_fee": {"amount": fee, "currency": currency} if fee else None,
                "position": position,
            }
        )
        return await services.create_category(platform, data)

    _print_category(_category_edit(work))


def _print_invalid(invalid: Any) -> None:
    for error in invalid.errors():
        where = ".".join(str(part) for part in error["loc"])
        console.print(f"[red]{where}: {error['msg']}[/red]")


def _category_edit(work: Callable[[Any], Awaitable[T]]) -> T:
    from pydantic import ValidationError

    from asoud.platform.errors import NotFound

    try:
        return _category_work(work)
    except NotFound:
        console.print("[red]no such category[/red]")
        raise typer.Exit(1) from None
    except ValidationError as invalid:
        _print_invalid(invalid)
        raise typer.Exit(2) from None


def _patch(slug: str, body: dict[str, Any]) -> None:
    from asoud.taxonomy import services
    from asoud.taxonomy.schemas import CategoryPatch

    async def work(platform: Any) -> Any:
        category = await services.category_by_slug(slug)
        return await services.update_category(
            platform, category, CategoryPatch.model_validate(body)
        )

    _print_category(_category_edit(work))


@categories_app.command("rename")
def categories_rename(
    slug: str,
    en: Annotated[str | None, typer.Option()] = None,
    fa: Annotated[str | None, typer.Option()] = None,
    ar: Annotated[str | None, typer.Option()] = None,
    tr: Annotated[str | None, typer.Option()] = None,
    new_slug: Annotated[str | None, typer.Option(help="a new slug")] = None,
) -> None:
    """Change the name in any of the four languages (or the slug)."""
    body: dict[str, Any] = {}
    if names := _names(en, fa, ar, tr):
        body["names"] = names
    if new_slug:
        body["slug"] = new_slug
    _patch(slug, body)


@categories_app.command("move")
def categories_move(
    slug: str, parent: Annotated[str, typer.Option(help="slug of the new parent")]
) -> None:
    """Move under another parent of the same level."""
    from asoud.taxonomy import services

    async def parent_id(platform: Any) -> int:
        return (await services.category_by_slug(parent)).id

    _patch(slug, {"parent_id": _category_edit(parent_id)})


@categories_app.command("fee")
def categories_fee(
    slug: str,
    amount: Annotated[str, typer.Argument(help="the fee, or 'none' to clear it")],
    currency: Annotated[str, typer.Option()] = "IRT",
) -> None:
    """Set (or clear) the subscription fee of a leaf."""
    fee = None if amount.lower() == "none" else {"amount": amount, "currency": currency}
    _patch(slug, {"subscription_fee": fee})


@categories_app.command("retire")
def categories_retire(slug: str) -> None:
    """Take a category (and what is under it) out of the tree and of new choices."""
    from asoud.taxonomy import services

    async def work(platform: Any) -> Any:
        return await services.retire_category(platform, await services.category_by_slug(slug))

    _print_category(_category_edit(work))


@categories_app.command("restore")
def categories_restore(slug: str) -> None:
    """Bring a retired category back."""
    from asoud.taxonomy import services

    async def work(platform: Any) -> Any:
        return await services.restore_category(platform, await services.category_by_slug(slug))

    _print_category(_category_edit(work))


@categories_app.command("import")
def categories_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML or CSV")],
) -> None:
    """Create or update a whole tree by slug (all or nothing; nothing is deleted)."""
    from pydantic import ValidationError

    from asoud.taxonomy import services
    from asoud.taxonomy.files import TreeFileError, read_tree

    try:
        tree = read_tree(file)
    except TreeFileError as unreadable:
        console.print(f"[red]{file}: {unreadable}[/red]")
        raise typer.Exit(2) from None
    except ValidationError as invalid:
        _print_invalid(invalid)
        raise typer.Exit(2) from None

    async def work(platform: Any) -> Any:
        return await services.import_categories(platform, tree)

    report = _category_edit(work)
    print(
        f"created {len(report.created)}, updated {len(report.updated)}, "
        f"unchanged {report.unchanged}"
    )


@token_app.command("issue")
def token_issue(
    phone: Annotated[str, typer.Option(help="mobile number of an existing user")],
) -> None:
    """Start a session for a user and print its access and refresh tokens as JSON."""
    import json

    from asoud.identity.models import User
    from asoud.identity.phone import normalise_phone
    from asoud.identity.tokens import start_session
    from asoud.runtime import Platform

    settings = _settings()
    platform = Platform.create(settings)

    async def issue() -> dict[str, Any] | None:
        user = await User.get_or_none(phone=normalise_phone(phone), is_active=True)
        if user is None:
            return None
        issued = await start_session(platform, user)
        return {
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "expires_in": issued.expires_in,
        }

    async def run() -> dict[str, Any] | None:
        try:
            return await _with_database(settings, issue)
        finally:
            await platform.http.aclose()
            await platform.redis.aclose()

    result = _run(run)
    if result is None:
        console.print("[red]no active user with that number[/red]")
        raise typer.Exit(1)
    print(json.dumps(result))


def _quickstart_environment() -> None:
    """Embedded defaults: SQLite, in-process Redis, a generated keyring and secret."""
    from asoud.platform.keyring import new_keyring, write_keyring

    QUICKSTART_DIR.mkdir(exist_ok=True)
    keyring = QUICKSTART_DIR / "keyring.json"
    if not keyring.exists():
        write_keyring(keyring, new_keyring())
    secret_file = QUICKSTART_DIR / "secret_key"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(48))
        secret_file.chmod(0o600)
    defaults = {
        "ASOUD_ENVIRONMENT": "development",
        "ASOUD_DATABASE_URL": f"sqlite://{QUICKSTART_DIR}/asoud.sqlite3",
        "ASOUD_REDIS_URL": "memory://",
        "ASOUD_JWT_KEYRING_FILE": str(keyring),
        "ASOUD_SECRET_KEY_FILE": str(secret_file),
        "ASOUD_SMS_PROVIDER": "outbox",
        "ASOUD_SMS_INTERNATIONAL_PROVIDER": "outbox",
    }
    for name, value in defaults.items():
        if name not in os.environ and name.removesuffix("_FILE") not in os.environ:
            os.environ[name] = value


@app.command()
def quickstart(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Set up and start the API on the embedded default (SQLite, in-process Redis, demo data)."""
    import uvicorn

    from asoud.app import create_app
    from asoud.demo import DEMO_CUSTOMER_PHONE, seed_demo_data
    from asoud.platform import database
    from asoud.platform.logging import configure_logging

    _quickstart_environment()
    settings = _settings()
    _run(lambda: database.migrate(settings, report=lambda line: console.print(line)))
    seeded = _run(lambda: _with_database(settings, seed_demo_data))
    for line in seeded:
        console.print(f"seeded {line}")
    base = f"http://{host}:{port}"
    console.print(
        f"\n[bold green]ASOUD is starting on {base}[/bold green]\n"
        f"  API docs:  {base}/docs\n"
        f"  Browse:    GET /api/v1/products?q=saffron  (demo market 'saffron-house')\n"
        f'  Log in:    POST /api/v1/auth/otp with {{"phone": "09121111111"}} '
        f"(demo customer {DEMO_CUSTOMER_PHONE});\n"
        f"             the one-time code is printed below as \\[asoud outbox];\n"
        f"             then POST /api/v1/auth/token with the phone and code, and press\n"
        f"             'Authorize' in /docs with the access_token.\n"
        f"  Buy:       POST /api/v1/cart/items, then POST /api/v1/checkout\n"
        f"  Others:    09122222222 owns the demo market, 09120000000 is staff\n"
        f"  Stop:      Ctrl+C\n"
    )
    configure_logging("WARNING")  # JSON without tracebacks, as in production
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
    )


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="tasks run at once")] = None,
) -> None:
    """Run background tasks from the Redis stream (acknowledged after they finish)."""
    from taskiq.acks import AcknowledgeType
    from taskiq.cli.worker.args import WorkerArgs
    from taskiq.cli.worker.run import run_worker

    settings = _settings()
    args = WorkerArgs(
        broker="asoud.background.worker:broker",
        modules=[],
        workers=1,
        max_async_tasks=concurrency or settings.task_max_concurrency,
        ack_type=AcknowledgeType.WHEN_EXECUTED,
        shutdown_timeout=30,
        configure_logging=False,
    )
    sys.exit(run_worker(args) or 0)


@app.command()
def scheduler() -> None:
    """Enqueue the periodic tasks on time and release due retries. Several may run: they
    elect one leader through a lease in Redis, and each periodic run is enqueued once."""
    import signal
    import socket

    from prometheus_client import start_http_server

    from asoud.background.broker import create_broker
    from asoud.background.scheduler import Scheduler
    from asoud.platform.logging import configure_logging
    from asoud.platform.redis import KeySpace, create_redis

    settings = _settings()
    configure_logging()
    if settings.metrics_port:
        # Its liveness shows on the same port as a worker's (the pod's probes use it).
        start_http_server(settings.metrics_port, addr="0.0.0.0")  # noqa: S104
    holder = os.environ.get("POD_NAME") or f"{socket.gethostname()}:{os.getpid()}"

    async def run() -> None:
        broker = create_broker(settings)
        await broker.startup()
        redis = create_redis(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # SIGTERM ends the loop at once and hands the lease over, also as PID 1.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            keys = KeySpace(settings.redis_key_prefix)
            await Scheduler(broker, redis, keys, holder=holder).run(stop)
        finally:
            await broker.shutdown()
            await redis.aclose()

    asyncio.run(run())


slo_app = typer.Typer(help="Service level objectives", no_args_is_help=True)
app.add_typer(slo_app, name="slo")


@slo_app.command("rules")
def slo_rules(
    selector: Annotated[str, typer.Option(help='label matchers, e.g. namespace="shop"')] = "",
    prometheus_rule: Annotated[
        str | None, typer.Option(help="emit a PrometheusRule with this name instead")
    ] = None,
    namespace: Annotated[str, typer.Option(help="namespace of the PrometheusRule")] = "default",
) -> None:
    """Print the recording rules and burn-rate alerts generated from slos.yaml (YAML)."""
    import yaml

    from asoud.observability import rules

    document = (
        rules.prometheus_rule(prometheus_rule, namespace, selector)
        if prometheus_rule
        else rules.rule_groups(selector)
    )
    print(yaml.safe_dump(document, sort_keys=False, width=1000))


@slo_app.command("dashboards")
def slo_dashboards(
    out: Annotated[Path | None, typer.Option(help="directory (default: the packaged copy)")] = None,
) -> None:
    """Write the Grafana dashboards (JSON) generated from code."""
    from asoud.observability import dashboards

    for path in dashboards.write_all(out or dashboards.DASHBOARD_DIR):
        print(path)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
