"""Test databases: SQLite by default, PostgreSQL when GUANXI_TEST_DATABASE_URL points at a server.

Each pytest worker gets its own fresh database, migrated once with the real Alembic scripts;
every test that touches the database starts from empty tables (they are cleared after each test).
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Settings are read from the environment: fix them before guanxi is imported anywhere.
_HOME = Path(tempfile.mkdtemp(prefix="guanxi-test-"))
_WAREHOUSE = _HOME / "warehouse"
# The home holds keys, checkpoints and test databases: nothing of it should outlive the run.
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["GUANXI_HOME"] = str(_HOME)
os.environ["GUANXI_SECRET_KEY"] = base64.b64encode(b"k" * 32).decode()
os.environ["GUANXI_ARGON2_TIME_COST"] = "1"
os.environ["GUANXI_ARGON2_MEMORY_KIB"] = "1024"
os.environ.pop("GUANXI_DATABASE_URL", None)
os.environ.pop("GUANXI_REDIS_URL", None)

from sqlalchemy import create_engine, text  # noqa: E402

from guanxi.config import reset_settings  # noqa: E402
from guanxi.customers import identity_cache  # noqa: E402
from guanxi.kit.db import Database, set_database  # noqa: E402
from guanxi.migrations import runner  # noqa: E402
from guanxi.migrations.all_models import metadata  # noqa: E402
from tests.integration.privacy.tamper import cleanup_allowed  # noqa: E402

pytest_plugins = ["nicegui.testing.user_plugin"]

PG_URL = os.environ.get("GUANXI_TEST_DATABASE_URL")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _admin_url(url: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/postgres"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{_HOME / f'test-{_worker()}.db'}"
        return
    name = f"guanxi_test_{uuid.uuid4().hex[:8]}_{_worker()}"
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{url.rpartition('/')[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    os.environ["GUANXI_DATABASE_URL"] = database_url
    # DuckDB lets one process write a file: each worker gets a warehouse of its own
    os.environ["GUANXI_WAREHOUSE_DIR"] = str(_WAREHOUSE)
    reset_settings()
    db = Database(database_url)
    runner.upgrade(db.engine)
    set_database(db)
    yield db
    set_database(None)


def clear_tables(db: Database) -> None:
    """Empty every table. DELETE, not TRUNCATE: on PostgreSQL a TRUNCATE of every table costs
    0.2-0.8 s per test, a DELETE of the few rows a test writes a few milliseconds."""
    with db.engine.begin() as conn, cleanup_allowed(conn):  # the audit tables refuse DELETE otherwise
        for table in reversed(metadata.sorted_tables):
            conn.execute(text(f'DELETE FROM "{table.name}"'))
    identity_cache.cache.forget_all()  # rows vanished behind the services' backs
    # Export files belong to the runs just deleted: a test that never fetched its export must not
    # leave it for the next test to find.
    for leftover in (_HOME / "exports").glob("*"):
        leftover.unlink(missing_ok=True)
    # The warehouse copied rows that are gone now: the next run starts from an empty one.
    shutil.rmtree(_WAREHOUSE, ignore_errors=True)


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The test database, emptied after the test."""
    set_database(database)
    try:
        yield database
    finally:
        clear_tables(database)


@pytest.fixture(autouse=True)
def _cli_language_stays_with_its_test() -> Iterator[None]:
    """`guanxi --lang` sets the run's language in the environment (one command, one process);
    in this one test process it must not carry over to the next test."""
    before = os.environ.get("GUANXI_DEFAULT_LANGUAGE")
    yield
    if os.environ.get("GUANXI_DEFAULT_LANGUAGE") != before:
        if before is None:
            os.environ.pop("GUANXI_DEFAULT_LANGUAGE", None)
        else:
            os.environ["GUANXI_DEFAULT_LANGUAGE"] = before
        reset_settings()
