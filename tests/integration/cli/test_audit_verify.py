"""`guanxi audit verify` exits 0 on an intact chain and 1 naming the first bad record."""

from __future__ import annotations

from sqlalchemy import text
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.privacy import audit

runner = CliRunner()


def _write(db: Database, count: int) -> None:
    with db.unit_of_work() as session:
        for i in range(count):
            audit.record(session, SYSTEM, "test.event", entity_id=str(i))


def test_intact_chain_exits_zero(db: Database) -> None:
    _write(db, 3)
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 3 records" in result.output


def test_broken_chain_exits_one_naming_the_record(db: Database) -> None:
    _write(db, 4)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET entity_id = 'x' WHERE seq = 2"))
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "BROKEN at record 2" in result.output
    assert "1 records verified before it" in result.output


def test_truncated_chain_exits_one(db: Database) -> None:
    _write(db, 4)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE seq = 4"))
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "BROKEN at record 4" in result.output
