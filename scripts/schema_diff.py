"""Print the Alembic operations that would bring a database at head in line with the models.

Use it to fill a hand-numbered revision: `.venv/bin/python scripts/schema_diff.py`, then paste
the upgrade (and downgrade) into the revision file and re-run until it prints nothing to do.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from guanxi.migrations import runner
from guanxi.migrations.all_models import metadata


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'diff.db'}")
        runner.upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"render_as_batch": False})
            script = produce_migrations(context, metadata)
        if script.upgrade_ops is None or script.upgrade_ops.is_empty():
            print("# nothing to do: the migrations match the models")
            return
        print("# upgrade\n" + render_python_code(script.upgrade_ops))
        if script.downgrade_ops is not None:
            print("# downgrade\n" + render_python_code(script.downgrade_ops))
        engine.dispose()


if __name__ == "__main__":
    main()
