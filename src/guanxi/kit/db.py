"""Engine, sessions and the unit of work.

The entry point (API request, console action, job, CLI command) opens one unit of work and
commits or rolls back; services only flush. Work registered with `after_commit` runs once the
transaction is durable (used to wake the outbox dispatcher), and is dropped on rollback.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from guanxi.config import Settings, get_settings, owner_only, private_file

_AFTER_COMMIT = "guanxi_after_commit"
_UNIT_OF_WORK = "guanxi_unit_of_work"
_WROTE = "guanxi_wrote"  # the session has flushed changes
# Execution options that choose how a transaction begins (see `_configure_sqlite`).
_WRITE = "guanxi_write"
_READ_ONLY = "guanxi_read_only"
_HOLDS_GATE = "guanxi_holds_writer_gate"  # on a pooled SQLite connection: it holds the gate
WRITER_WAIT_SECONDS = 30.0  # as long as SQLite's busy timeout


class DatabaseUrlError(ValueError):
    """GUANXI_DATABASE_URL (or a URL given in code) is not one SQLAlchemy can use."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        try:
            self._create_engine(url, echo=echo)
        except (ArgumentError, ValueError) as exc:  # an unknown scheme or driver, a bad port
            raise DatabaseUrlError(str(exc).splitlines()[0][:300]) from exc
        # One engine view per kind of transaction: a session bound to it begins that kind of
        # transaction on first use, so opening a unit of work does no I/O.
        self._binds = {
            mode: self.engine.execution_options(**{_WRITE: mode == "write", _READ_ONLY: mode == "read_only"})
            for mode in ("write", "read", "read_only")
        }
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        event.listen(self.sessionmaker, "after_flush", _note_write)

    def _create_engine(self, url: str, *, echo: bool) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # A pool large enough for the API's concurrent requests: a connection opened beyond it is
        # closed again when returned, and opening one (on SQLite: PRAGMAs, reading the schema)
        # costs more than the query it was opened for.
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        in_memory = self.is_sqlite and (url in ("sqlite://", "sqlite:///") or "memory" in url)
        if not in_memory:
            kwargs.update(pool_size=10, max_overflow=20)
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if not in_memory:
                _private_sqlite_files(url)
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _configure_postgresql(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def begin(self, *, read_only: bool = False, lock_early: bool = True) -> UnitOfWork:
        """An open unit of work that has not touched the database yet (see `unit_of_work`)."""
        mode = "read_only" if read_only else ("write" if lock_early else "read")
        work = UnitOfWork(
            self.sessionmaker(bind=self._binds[mode]), read_only=read_only, write_bind=self._binds["write"]
        )
        work.session.info[_UNIT_OF_WORK] = weakref.ref(work)  # no cycle: the caller holds the work
        return work

    @contextmanager
    def unit_of_work(self, *, read_only: bool = False, lock_early: bool = True) -> Iterator[Session]:
        """One transaction: commit when the block ends normally, roll back on any exception.

        The transaction begins with the first statement. SQLite: a writer takes the write lock at
        BEGIN (`lock_early`) so two writers queue instead of failing on lock upgrade. Mostly-reading
        work (API GETs, which may still append an audit record) passes `lock_early=False` so
        readers never wait for each other. PostgreSQL: a read-only unit of work is READ ONLY.
        """
        work = self.begin(read_only=read_only, lock_early=lock_early)
        try:
            yield work.session
        except BaseException:
            work.finish(failed=True)
            raise
        work.finish(failed=False)

    def analyze(self) -> None:
        """Refresh the planner's statistics after a bulk load, so the first queries on the new
        rows choose their indexes (PostgreSQL's autovacuum would get there, minutes later)."""
        with self.engine.connect() as connection:
            if self.is_sqlite:
                connection.exec_driver_sql("ANALYZE")
            else:
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
            connection.commit()

    def dispose(self) -> None:
        self.engine.dispose()


class UnitOfWork:
    """A session whose transaction is committed or rolled back by `finish`, once.

    Opening one does no I/O; `needs_io` tells whether finishing it will (a transaction began or
    work waits for the commit), so an async caller can finish an untouched one on the event loop
    and hand the others to a worker thread.
    """

    def __init__(self, session: Session, *, read_only: bool, write_bind: Engine) -> None:
        self.session = session
        self.read_only = read_only
        self.finished = False
        self._write_bind = write_bind

    def lock_early(self) -> None:
        """From now on begin as a writer (SQLite: BEGIN IMMEDIATE), for work found to write after
        all. A transaction that has only read so far is ended (rolled back) and begins again with
        the next statement; one that has written cannot change and is refused."""
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot write")
        if self.session.get_bind() is self._write_bind:
            return
        if self.session.in_transaction():
            if self.session.info.get(_WROTE) or self.session.new or self.session.dirty or self.session.deleted:
                raise RuntimeError("lock_early() after writing: the transaction cannot change kind")
            self.session.rollback()
        self.session.bind = self._write_bind

    @property
    def needs_io(self) -> bool:
        if self.finished:
            return False
        return self.session.in_transaction() or bool(self.session.info.get(_AFTER_COMMIT))

    def finish(self, *, failed: bool) -> None:
        """Commit (or, if `failed` or read-only, roll back), close, then run after-commit hooks.

        Only the first call does anything: the unit of work is over once it has been finished.
        """
        if self.finished:
            return
        self.finished = True
        session = self.session
        committed = False
        try:
            if failed or self.read_only:
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


def _private_sqlite_files(url: str) -> None:
    """The database file exists with mode 0600 before SQLite opens it: SQLite gives its -wal and
    -shm files the database file's mode, so all three stay readable by the owner only. Files an
    older version left readable are tightened."""
    name = make_url(url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name).expanduser()
    if not path.parent.is_dir():
        return  # connecting reports the missing directory (see `cli.errors`)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        owner_only(path.with_name(path.name + suffix))


def _note_write(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


def unit_of_work_of(session: Session) -> UnitOfWork | None:
    """The unit of work a session belongs to (None for a session made some other way)."""
    ref = session.info.get(_UNIT_OF_WORK)
    work = ref() if isinstance(ref, weakref.ref) else None
    return work if isinstance(work, UnitOfWork) else None


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

    # SQLite has one writer at a time. Left to SQLite, writers that find the lock taken poll it
    # with growing sleeps (up to 100 ms each), so under steady load a waiter can lose to newer
    # arrivals again and again: seconds of tail latency. Writers of this process therefore wait
    # on a lock of our own first, which wakes the next one as soon as the writer before it is
    # back in the pool; SQLite's busy timeout still arbitrates between processes.
    gate = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not conn.get_execution_options().get(_WRITE, False):
            conn.exec_driver_sql("BEGIN")
            return
        if not gate.acquire(timeout=WRITER_WAIT_SECONDS):
            raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked (writer queue timed out)"))
        conn.info[_HOLDS_GATE] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            conn.info.pop(_HOLDS_GATE, None)
            gate.release()
            raise

    def _release(info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_GATE, False):
            gate.release()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _release(record.info)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        _release(record.info)


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # The driver has begun the transaction implicitly; this is its first statement.
        if conn.get_execution_options().get(_READ_ONLY, False):
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")


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
