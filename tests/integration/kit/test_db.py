"""The unit of work commits on success, rolls back on error, and runs after-commit hooks only on commit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from guanxi.kit import sequence
from guanxi.kit.db import Database, after_commit
from guanxi.kit.sequence import Counter


def _count(db: Database) -> int:
    with db.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(Counter)) or 0)


def test_commit_and_rollback(db: Database) -> None:
    hooks: list[str] = []
    with db.unit_of_work() as session:
        session.add(Counter(name="a", value=1))
        after_commit(session, lambda: hooks.append("a"))
    assert _count(db) == 1
    assert hooks == ["a"]

    with pytest.raises(ValueError), db.unit_of_work() as session:
        session.add(Counter(name="b", value=1))
        after_commit(session, lambda: hooks.append("b"))
        session.flush()
        raise ValueError("boom")
    assert _count(db) == 1
    assert hooks == ["a"]


def test_read_only_unit_of_work_never_writes(db: Database) -> None:
    hooks: list[str] = []
    if db.dialect == "postgresql":
        from sqlalchemy.exc import InternalError

        with pytest.raises(InternalError), db.unit_of_work(read_only=True) as session:
            session.add(Counter(name="ro", value=1))
            session.flush()
    else:
        with db.unit_of_work(read_only=True) as session:
            session.add(Counter(name="ro", value=1))
            session.flush()
            after_commit(session, lambda: hooks.append("ro"))
    assert _count(db) == 0
    assert hooks == []


def test_sequence_counts_up(db: Database) -> None:
    with db.unit_of_work() as session:
        assert sequence.next_value(session, "member_no", start=100) == 100
        assert sequence.next_value(session, "member_no", start=100) == 101
        assert sequence.reserve_block(session, "member_no", 3) == range(102, 105)
        assert sequence.next_value(session, "member_no") == 105
        assert sequence.next_value(session, "other") == 1
