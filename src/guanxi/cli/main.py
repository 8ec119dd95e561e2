"""The `guanxi` command line for operators."""

from __future__ import annotations

import logging
import os
import sys

import typer

from guanxi.cli.analytics import analytics_app
from guanxi.cli.audit import audit_app
from guanxi.cli.customers_cdp import customers_app
from guanxi.cli.dataio import import_app
from guanxi.cli.errors import GuanxiGroup, complain, refusal_text
from guanxi.cli.export import export_app
from guanxi.cli.loyalty import loyalty_app
from guanxi.cli.marketing import tags_app
from guanxi.cli.quality import events_app, quality_app
from guanxi.cli.rates import rates_app
from guanxi.cli.users import add_user_commands
from guanxi.config import OWNER_ONLY_UMASK, get_settings, reset_settings

app = typer.Typer(
    help="guanxi: customer relationship and loyalty platform",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=GuanxiGroup,  # a database that cannot be reached is a sentence and exit 2, not a traceback
)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
users_app = typer.Typer(help="Staff users", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for integrations", no_args_is_help=True)
outbox_app = typer.Typer(help="Outbox events", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
add_user_commands(users_app)
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="api-keys")
app.add_typer(outbox_app, name="outbox")
app.add_typer(loyalty_app, name="loyalty")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(tags_app, name="tags")
app.add_typer(customers_app, name="customers")
app.add_typer(quality_app, name="quality")
app.add_typer(events_app, name="events")
app.add_typer(rates_app, name="rates")
app.add_typer(analytics_app, name="analytics")


LANG_OPTION = typer.Option(
    None,
    "--lang",
    help="Language of the output: zh-CN or en (default: GUANXI_DEFAULT_LANGUAGE, else zh-CN)",
    show_default=False,
)


@app.callback()
def _every_command(lang: str | None = LANG_OPTION) -> None:
    """Every command creates files for its owner only (databases, keys, imports, exports), and
    speaks the operator's language: `--lang` for this run, else GUANXI_DEFAULT_LANGUAGE."""
    os.umask(OWNER_ONLY_UMASK)
    if lang is not None:
        _use_language(lang)


def _use_language(value: str) -> None:
    """Make `value` the language of this run (every message reads the setting when it is shown)."""
    from guanxi.kit.i18n import LANGUAGES

    chosen = next((language for language in LANGUAGES if language.lower() == value.strip().lower()), None)
    if chosen is None:
        raise _fail(_text("cli.lang.unknown", value=value), code=2)
    os.environ["GUANXI_DEFAULT_LANGUAGE"] = chosen
    reset_settings()


def _text(key: str, **params: object) -> str:
    from guanxi.kit import i18n

    return i18n.t(key, get_settings().default_language, **params)


def _fail(message: str, code: int = 1) -> typer.Exit:
    complain(message)
    return typer.Exit(code)


def _upgrade() -> None:
    from guanxi.kit.db import get_database
    from guanxi.migrations import runner

    runner.upgrade(get_database().engine)


@db_app.command("upgrade")
def db_upgrade(
    create_database: bool = typer.Option(
        False, "--create-database", help="PostgreSQL: create the database first if it is missing (needs CREATEDB)"
    ),
) -> None:
    """Create or migrate the database schema to the latest version."""
    from guanxi.cli.errors import create_database_if_missing
    from guanxi.kit.db import get_database
    from guanxi.migrations import runner

    if create_database and (created := create_database_if_missing()):
        typer.echo(created)
    _upgrade()
    revision = runner.current(get_database().engine)
    typer.echo(_text("cli.db.at_revision", revision=revision, dialect=get_database().dialect))


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database."""
    from guanxi.kit.db import get_database
    from guanxi.migrations import runner

    typer.echo(runner.current(get_database().engine) or _text("cli.db.empty"))


@users_app.command("create")
def users_create(
    username: str = typer.Option(..., help="Login name"),
    password: str = typer.Option(..., help="At least 8 characters"),
    role: str = typer.Option(..., help="admin, manager, sales, service, marketing, analyst, auditor, integration"),
    region: str | None = typer.Option(None, help="Region for region-scoped users, e.g. 华东"),
    team: str | None = typer.Option(None, help="Team for team-scoped users"),
    scope: str | None = typer.Option(None, help="all, region, team or own (default by role)"),
    display_name: str | None = typer.Option(None, help="Name shown in the console"),
) -> None:
    """Create a staff user."""
    from guanxi.auth import service
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError
    from guanxi.kit.principal import SYSTEM

    _upgrade()
    try:
        with get_database().unit_of_work() as session:
            user = service.create_user(
                session,
                SYSTEM,
                username=username,
                password=password,
                role=role,
                region=region,
                team=team,
                scope=scope,
                display_name=display_name,
            )
            typer.echo(
                _text(
                    "cli.users.created",
                    username=user.username,
                    role=_text(f"role.{user.role}"),
                    scope=_text(f"staff.scope.{user.scope}"),
                    id=user.id,
                )
            )
    except DomainError as exc:
        raise _fail(refusal_text(exc)) from None


@users_app.command("list")
def users_list() -> None:
    """List staff users."""
    from guanxi.auth import service
    from guanxi.kit.db import get_database
    from guanxi.kit.principal import SYSTEM

    with get_database().unit_of_work(read_only=True) as session:
        for user in service.list_users(session, SYSTEM):
            status = _text("cli.users.active" if user.is_active else "cli.users.inactive")
            typer.echo(
                f"{user.username:20} {_text(f'role.{user.role}'):12} {_text(f'staff.scope.{user.scope}'):7} "
                f"{user.region or '-':8} {status}"
            )


@keys_app.command("create")
def api_keys_create(
    name: str = typer.Option(..., help="What the key is for, e.g. pos-shanghai"),
    role: str = typer.Option("integration", help="Role the key acts as"),
    scope: list[str] = typer.Option([], "--scope", help="Limit to resource:action, e.g. customers:read"),
) -> None:
    """Create an API key for an integration; the key is printed once."""
    from guanxi.auth import service
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError
    from guanxi.kit.principal import SYSTEM

    _upgrade()
    try:
        with get_database().unit_of_work() as session:
            raw, key = service.create_api_key(session, SYSTEM, name=name, role=role, scopes=scope)
    except DomainError as exc:
        raise _fail(refusal_text(exc)) from None
    typer.echo(_text("cli.api_key.created", id=key.id, role=_text(f"role.{key.role}"), secret=raw))


@outbox_app.command("dispatch")
def outbox_dispatch() -> None:
    """Deliver pending outbox events once, without a worker."""
    from guanxi.kit import outbox
    from guanxi.kit.db import get_database
    from guanxi.loyalty import handlers
    from guanxi.marketing import handlers as marketing_handlers

    assert handlers.HANDLER_MODULES  # registered on import: deliver nothing before they are known
    assert marketing_handlers.HANDLER_MODULES

    total = 0
    while batch := outbox.dispatch_pending(get_database()):
        total += batch
    typer.echo(_text("cli.outbox.delivered", count=total))


def build_app() -> object:
    """API and console in one ASGI app."""
    from guanxi.api.app import create_app
    from guanxi.console import mount_console
    from guanxi.jobs import queue

    queue.enable_wakeups()
    api = create_app()
    mount_console(api)
    return api


WORKER_OPTION = typer.Option(
    None,
    "--worker/--no-worker",
    help="Consume jobs in this process (default: yes unless GUANXI_REDIS_URL or GUANXI_EMBEDDED_WORKER=0)",
    show_default=False,
)


def _serve(host: str, port: int, *, log_level: str, worker: bool | None) -> None:
    """Run uvicorn in the main thread and, unless workers run separately, the job consumer in
    threads beside it; the consumer stops after uvicorn has shut down (SIGINT or SIGTERM)."""
    import uvicorn

    from guanxi.jobs import consumer as jobs_consumer
    from guanxi.jobs import queue
    from guanxi.kit import access_log

    settings = get_settings()
    app_ = build_app()
    embedded = None
    if jobs_consumer.embedded_worker_enabled(settings, worker):
        embedded = jobs_consumer.start_embedded(queue.huey, settings)
    _banner(host, port, embedded_worker=embedded is not None)
    try:
        uvicorn.run(
            app_,  # type: ignore[arg-type]
            host=host,
            port=port,
            log_level=log_level,
            log_config=access_log.uvicorn_log_config(),  # request lines without personal values
            forwarded_allow_ips=settings.trusted_proxies,  # the peers api.security_headers trusts
        )
    finally:
        if embedded is not None:
            embedded.stop(graceful=True)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind"),
    port: int = typer.Option(8000, help="Port"),
    worker: bool | None = WORKER_OPTION,
) -> None:
    """Run the API, the staff console and (by default) the job consumer in one process."""
    _upgrade()
    _serve(host, port, log_level="info", worker=worker)


@app.command()
def worker(workers: int = typer.Option(1, help="Worker threads")) -> None:
    """Run the job consumer (outbox delivery and scheduled jobs) as its own process."""
    from guanxi.jobs import consumer as jobs_consumer
    from guanxi.jobs import queue

    _upgrade()
    queue.enable_wakeups()
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    consumer = jobs_consumer.GuanxiConsumer(
        queue.huey, jobs_consumer.lease_for(settings), workers=workers, worker_type="thread", periodic=True
    )
    consumer.run()


@app.command()
def demo(
    customers: int = typer.Option(5000, min=1, max=2_000_000, help="How many demo customers"),
    orders: int | None = typer.Option(
        None, min=0, max=20_000_000, help="Orders of history to replay (default 20 per customer; 0: none)"
    ),
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="Start the server after loading"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    worker: bool | None = WORKER_OPTION,
) -> None:
    """Load realistic demo data (once; reruns reuse it) and start the server."""
    from guanxi.demo import loader
    from guanxi.kit.db import get_database

    _upgrade()
    summary = loader.load(get_database(), customers=customers, orders=orders, progress=lambda m: typer.echo(m))
    typer.echo(summary.describe(get_settings().default_language))
    if serve_after:
        _serve(host, port, log_level="warning", worker=worker)


def _banner(host: str, port: int, *, embedded_worker: bool) -> None:
    base = f"http://{host}:{port}"
    typer.echo("")
    typer.secho(_text("cli.serve.console", url=f"{base}/"), bold=True)
    typer.echo(_text("cli.serve.api_docs", url=f"{base}/docs"))
    typer.echo(_text("cli.serve.openapi", url=f"{base}/openapi.json"))
    typer.echo(_text("cli.serve.data", path=get_settings().resolved_home))
    typer.echo(_text("cli.serve.jobs_embedded" if embedded_worker else "cli.serve.jobs_separate"))
    typer.echo("")


def main() -> None:  # pragma: no cover - console script shim
    sys.exit(app())
