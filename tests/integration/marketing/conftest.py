"""While other parts of the schema are mid-work (models imported before their migration is
filled), empty only the tables that exist."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import inspect, text

from guanxi.kit.db import Database, set_database
from guanxi.migrations.all_models import metadata


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    set_database(database)
    try:
        yield database
    finally:
        existing = set(inspect(database.engine).get_table_names())
        with database.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                if table.name in existing:
                    conn.execute(text(f'DELETE FROM "{table.name}"'))
