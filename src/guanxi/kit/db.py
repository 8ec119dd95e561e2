"""Engine, sessions and the unit of work.

The entry point (API request, console action, job, CLI command) opens one unit of work and
commits or rolls back; services only flush. Work registered with `after_commit` runs once the
transaction is durable (used to wake the outbox dispatcher), and is dropped on rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from guanxi.config import Settings, get_settings

_AFTER_COMMIT = "guanxi_after_commit"


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self, *, read_only: bool = False, lock_early: bool = True) -> Iterator[Session]:
        """One transaction: commit when the block ends normally, roll back on any exception.

        SQLite: a writer takes the write lock at BEGIN (`lock_early`) so two writers queue instead
        of failing on lock upgrade. Mostly-reading work (API GETs, which may still append an audit
        record) passes `lock_early=False` so readers never wait for each other.
        """
        session = self.sessionmaker()
        session.connection(execution_options={"guanxi_write": lock_early and not read_only})
        if read_only and not self.is_sqlite:
            session.connection().exec_driver_sql("SET TRANSACTION READ ONLY")
        committed = False
        try:
            yield session
            if read_only:
                session.rollback()
            else:
                session.commit()
                committed = True
        except BaseException:
            session.rollback()
            raise
        finally:
            hooks: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT, [])
            session.close()
        if committed:
            for hook in hooks:
                hook()

    def dispose(self) -> None:
        self.engine.dispose()


def after_commit(session: Session, hook: Callable[[], None]) -> None:
    """Run `hook` after this session's unit of work commits (never on rollback)."""
    hooks: list[Callable[[], None]] = session.info.setdefault(_AFTER_COMMIT, [])
    if hook not in hooks:
        hooks.append(hook)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) issue BEGIN so we can choose IMMEDIATE for writers.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("guanxi_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_database: Database | None = None


def get_database(settings: Settings | None = None) -> Database:
    """The process-wide database, created on first use from settings."""
    global _database
    if _database is None:
        settings = settings or get_settings()
        if settings.database_url is None:
            settings.ensure_home()
        _database = Database(settings.sqlalchemy_url, echo=settings.sql_echo)
    return _database


def set_database(database: Database | None) -> None:
    """Replace the process-wide database (tests, CLI options)."""
    global _database
    if _database is not None and _database is not database:
        _database.dispose()
    _database = database
