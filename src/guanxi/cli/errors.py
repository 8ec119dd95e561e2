"""Database and file problems as sentences an operator can act on, not tracebacks.

Every `guanxi` command runs inside `GuanxiGroup.invoke`: a database that cannot be reached, does
not exist, refuses the login, or a URL that is not one, ends the command with a translated
message on stderr and exit code 2 (the same code the CLI uses for a bad environment or input).
So does a file the command cannot read or write (a missing directory for `--out`, no permission,
a directory where a file was expected): the path and the system's reason, no traceback.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from typer._click.core import Context as ClickContext  # typer ships its own click
from typer.core import TyperGroup

from guanxi.config import get_settings
from guanxi.kit import i18n
from guanxi.kit.db import DatabaseUrlError

EXIT_ENVIRONMENT = 2
_MISSING_DATABASE = re.compile(r'database "(?P<name>[^"]+)" does not exist')
_FRAME = re.compile(r'^connection failed: (connection to server at "[^"]*", port \d+ failed: )?')
_LOGIN = ("password authentication failed", "role ", "no password supplied", "authentication failed")


def text_of(key: str, **params: object) -> str:
    return i18n.t(key, get_settings().default_language, **params)


def complain(message: str) -> None:
    """A problem on stderr, in red, in the operator's language ("错误：…" / "error: …")."""
    typer.secho(text_of("cli.error", message=message), fg=typer.colors.RED, err=True)


def refusal_text(exc: Exception) -> str:
    """A service's refusal (a DomainError) as the catalog says it in the operator's language."""
    from guanxi.kit.errors import DomainError, localized

    if isinstance(exc, DomainError):
        return localized(exc, get_settings().default_language).detail
    return str(exc)


def _reason(exc: BaseException) -> str:
    """The driver's own words, without the 'connection failed: connection to server...' frame."""
    message = str(getattr(exc, "orig", None) or exc).strip()
    if "FATAL:" in message:
        message = message.split("FATAL:", 1)[1]
    message = _FRAME.sub("", message)
    return " ".join(message.split())[:300]


def file_problem(exc: OSError) -> str:
    """`cannot use the file X: No such file or directory`, in the operator's language."""
    path = exc.filename if exc.filename is not None else ""
    return text_of("cli.file_problem", path=path, reason=_os_reason(exc))


def _os_reason(exc: OSError) -> str:
    """The system's reason in the operator's language when the catalog has it (the common ones),
    else the system's own words."""
    name = errno.errorcode.get(exc.errno) if exc.errno is not None else None
    key = f"cli.os.{name}"
    if name and key in i18n.catalog("en"):
        return text_of(key)
    return exc.strerror or type(exc).__name__


def _server(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def explain(exc: BaseException) -> str:
    """A translated sentence for a database error raised while connecting (or a bad URL)."""
    if isinstance(exc, DatabaseUrlError):
        return text_of("cli.db.bad_url", reason=exc.reason)
    raw = get_settings().sqlalchemy_url
    url = make_url(raw)
    reason = _reason(exc)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if url.database and not path.parent.is_dir():
            return text_of("cli.db.sqlite_no_directory", path=path, directory=path.parent)
        return text_of("cli.db.sqlite_cannot_open", path=path, reason=reason)
    missing = _MISSING_DATABASE.search(reason)
    if missing:
        name = missing.group("name")
        return text_of(
            "cli.db.missing_database",
            name=name,
            server=_server(url),
            command=f"psql -h {url.host or 'localhost'} -p {url.port or 5432} -U {url.username or 'postgres'} "
            f"-d postgres -c 'CREATE DATABASE \"{name}\"'",
        )
    if any(marker in reason for marker in _LOGIN):
        return text_of("cli.db.login_refused", server=_server(url), reason=reason, url=shown)
    if isinstance(exc, OperationalError | InterfaceError):
        return text_of("cli.db.unreachable", server=_server(url), reason=reason, url=shown)
    return text_of("cli.db.failed", reason=reason)


def create_database_if_missing() -> str | None:
    """Create the PostgreSQL database GUANXI_DATABASE_URL names, when it is missing and the role
    may (CREATEDB). Returns what was done, or None when there was nothing to do."""
    url = make_url(get_settings().sqlalchemy_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        return None
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            present = connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database})
            if present:
                return None
            quoted = connection.dialect.identifier_preparer.quote_identifier(url.database)
            connection.execute(text(f"CREATE DATABASE {quoted}"))
    except DBAPIError as exc:
        raise DatabaseCreationRefused(url.database, _server(url), _reason(exc)) from exc
    finally:
        admin.dispose()
    return text_of("cli.db.created", name=url.database, server=_server(url))


class DatabaseCreationRefused(Exception):
    def __init__(self, name: str, server: str, reason: str) -> None:
        super().__init__(reason)
        self.name, self.server, self.reason = name, server, reason


class GuanxiGroup(TyperGroup):
    """The top-level command group: database problems become a message and exit code 2."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except DatabaseCreationRefused as exc:
            message = text_of("cli.db.create_refused", name=exc.name, server=exc.server, reason=exc.reason)
        except (DatabaseUrlError, OperationalError, InterfaceError, ArgumentError) as exc:
            message = explain(exc)
        except OSError as exc:
            message = file_problem(exc)
        complain(message)
        raise typer.Exit(EXIT_ENVIRONMENT)
