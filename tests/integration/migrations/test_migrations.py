"""The models and the migration scripts describe the same schema, and the scripts run both ways."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy import types as sa_types

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


def _filler(column: dict[str, Any], n: int) -> object:
    """A value for a NOT NULL column of a reflected table (the revision's own schema)."""
    kind = column["type"]
    if isinstance(kind, (sa_types.Integer, sa_types.Numeric)):
        return 0
    if isinstance(kind, sa_types.Boolean):
        return False
    if isinstance(kind, sa_types.DateTime):
        return "2026-01-01 00:00:00"
    if isinstance(kind, sa_types.Date):
        return "2026-01-01"
    if isinstance(kind, sa_types.JSON):
        return "[]"
    return f"v{n}"


def test_an_upgrade_keeps_rows_that_other_tables_point_at(tmp_path: Path) -> None:
    """SQLite enforces foreign keys in guanxi's connections: a revision that rebuilds a table which
    other rows point at (a batch copy-and-drop) fails on a real database though it passes on an
    empty one. Rewards with a redemption and a coupon template with a coupon go through every
    revision from 0016 on."""
    engine = create_engine(f"sqlite:///{tmp_path / 'kept.db'}")
    event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA foreign_keys=ON"))
    try:
        runner.upgrade(engine, "0016")
        schema = inspect(engine)
        rows = {
            "loyalty_rewards": {"id": "r1"},
            "loyalty_reward_redemptions": {"id": "rr1", "reward_id": "r1"},
            "loyalty_coupon_templates": {"id": "t1"},
            "loyalty_coupons": {"id": "c1", "template_id": "t1"},
        }
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # the rows' other parents are not needed here
            for table, given in rows.items():
                values = {
                    c["name"]: _filler(c, n)
                    for n, c in enumerate(schema.get_columns(table))
                    if not c["nullable"] and c.get("default") is None and c.get("autoincrement") is not True
                } | given
                names = ", ".join(values)
                marks = ", ".join(f":{name}" for name in values)
                conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)
        runner.upgrade(engine)
        assert runner.current(engine) == runner.head()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id, name_en FROM loyalty_rewards")).all() == [("r1", "")]
            assert conn.execute(text("SELECT id, name_en FROM loyalty_coupon_templates")).all() == [("t1", "")]
            assert conn.execute(text("SELECT reward_id FROM loyalty_reward_redemptions")).scalars().all() == ["r1"]
            assert conn.execute(text("SELECT template_id FROM loyalty_coupons")).scalars().all() == ["t1"]
    finally:
        engine.dispose()
