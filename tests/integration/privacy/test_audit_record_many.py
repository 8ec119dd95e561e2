"""`audit.record_many` appends one segment of the chain: the same records as `record` one by one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.privacy import audit
from tests.conftest import clear_tables
from tests.integration.privacy.tamper import settings_env

ALICE = Principal(id="u1", name="alice", role="admin", ip="10.0.0.1")
START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def checkpoint_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "checkpoints"
    with settings_env(audit_checkpoint_dir=str(directory), default_language="en"):
        yield directory


def drafts(at: datetime) -> list[audit.Draft]:
    return [
        audit.Draft(
            ALICE if i % 2 else SYSTEM,
            "customer.update" if i % 3 else "order.record",
            entity_type="customer",
            entity_id=f"c{i}",
            fields=("name", "city", "name")[: i % 4],
            detail={"n": i, "source": "测试"},
            outcome="denied" if i == 4 else "ok",
            occurred_at=at + timedelta(seconds=i),
        )
        for i in range(7)
    ]


def record_one(session: Session, item: audit.Draft) -> None:
    with clock.frozen(item.occurred_at):
        audit.record(
            session,
            item.actor,
            item.action,
            entity_type=item.entity_type,
            entity_id=item.entity_id,
            fields=item.fields,
            detail=dict(item.detail),
            outcome=item.outcome,
        )


def one_by_one(db: Database, items: list[audit.Draft]) -> None:
    for item in items:
        with db.unit_of_work() as session:
            record_one(session, item)


def rows(db: Database) -> tuple[list[tuple[object, ...]], tuple[object, ...] | None]:
    with db.engine.connect() as conn:
        records = [tuple(r) for r in conn.execute(text("SELECT * FROM audit_records ORDER BY seq"))]
        head = conn.execute(text("SELECT id, last_seq, last_hash FROM audit_chain_head")).first()
    return records, None if head is None else tuple(head)


def verify_cli() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify"])
    return result.exit_code, result.output


def test_a_segment_is_the_records_that_record_writes_one_by_one(db: Database) -> None:
    one_by_one(db, drafts(START)[:2])
    one_by_one(db, drafts(START)[2:])
    expected = rows(db)
    clear_tables(db)

    with db.unit_of_work() as session:
        written = audit.record_many(session, drafts(START)[:2])
    with db.unit_of_work() as session:
        written += audit.record_many(session, drafts(START)[2:])
    assert rows(db) == expected
    assert [r.seq for r in written] == list(range(1, 8))
    assert [r.hash for r in written] == [row[-1] for row in expected[0]]
    assert expected[1] == (1, 7, written[-1].hash)
    code, output = verify_cli()
    assert code == 0, output


def test_a_segment_continues_what_the_same_transaction_recorded(db: Database) -> None:
    items = drafts(START)
    one_by_one(db, items)
    expected = rows(db)
    clear_tables(db)

    with db.unit_of_work() as session:
        record_one(session, items[0])
        audit.record_many(session, items[1:4])
        record_one(session, items[4])
        audit.record_many(session, items[5:])
    assert rows(db) == expected
    code, output = verify_cli()
    assert code == 0, output


def test_a_personal_value_in_any_draft_refuses_the_whole_segment(db: Database) -> None:
    items = [*drafts(START)[:2], audit.Draft(ALICE, "customer.search", detail={"q": "13800138000"})]
    with pytest.raises(ValueError, match=r"detail\.q"), db.unit_of_work() as session:
        audit.record_many(session, items)
    assert rows(db) == ([], None)


def test_no_drafts_write_nothing(db: Database) -> None:
    with db.unit_of_work() as session:
        assert audit.record_many(session, []) == []
    assert rows(db) == ([], None)
