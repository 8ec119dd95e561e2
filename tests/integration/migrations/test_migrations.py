"""The models and the migration scripts describe the same schema, and the scripts run both ways."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from guanxi.kit.db import Database
from guanxi.migrations import runner
from guanxi.migrations.all_models import metadata
from tests.conftest import PG_URL


def test_models_and_migrations_do_not_drift(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_database_is_at_head(db: Database) -> None:
    assert runner.current(db.engine) == runner.head()


@pytest.fixture
def throwaway_engine(tmp_path: Path) -> Iterator[Engine]:
    if not PG_URL:
        engine = create_engine(f"sqlite:///{tmp_path / 'throwaway.db'}")
        yield engine
        engine.dispose()
        return
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    base = url.rpartition("/")[0]
    name = f"guanxi_migrate_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(f"{base}/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_downgrade_to_base_and_upgrade_again(throwaway_engine: Engine) -> None:
    expected = {t.name for t in metadata.sorted_tables}
    runner.upgrade(throwaway_engine)
    assert runner.current(throwaway_engine) == runner.head()
    assert set(inspect(throwaway_engine).get_table_names()) == expected | {"alembic_version"}

    runner.downgrade(throwaway_engine, "base")
    assert runner.current(throwaway_engine) is None
    assert set(inspect(throwaway_engine).get_table_names()) == {"alembic_version"}

    runner.upgrade(throwaway_engine)
    assert runner.current(throwaway_engine) == runner.head()
    assert set(inspect(throwaway_engine).get_table_names()) == expected | {"alembic_version"}
    with throwaway_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
