"""Integration tests share the per-worker database from tests/conftest.py.

`db` is overridden to empty the tables with DELETE rather than TRUNCATE: on PostgreSQL a TRUNCATE of
every table costs 0.2-0.8 s per test, a DELETE of the few rows a test writes a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from guanxi.kit.db import Database, set_database
from guanxi.migrations.all_models import metadata


def clear_tables(database: Database) -> None:
    with database.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(text(f'DELETE FROM "{table.name}"'))


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The test database, emptied after the test."""
    set_database(database)
    try:
        yield database
    finally:
        clear_tables(database)
