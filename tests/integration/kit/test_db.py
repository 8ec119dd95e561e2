"""The unit of work commits on success, rolls back on error, and runs after-commit hooks only on commit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from guanxi.kit import db as db_module
from guanxi.kit import sequence
from guanxi.kit.db import Database, after_commit, unit_of_work_of
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


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements executed inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_opening_a_unit_of_work_does_no_io(db: Database) -> None:
    checked_out = db.engine.pool.checkedout()  # type: ignore[attr-defined]
    with statements(db) as seen:
        work = db.begin()
        assert db.engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]
        assert not work.needs_io
        work.finish(failed=False)  # nothing began: nothing to end
    assert seen == []
    assert work.finished and not work.needs_io


@pytest.mark.parametrize(
    ("options", "sqlite_begin", "postgresql_first"),
    [
        ({}, "BEGIN IMMEDIATE", None),
        ({"lock_early": False}, "BEGIN", None),
        ({"read_only": True}, "BEGIN", "SET TRANSACTION READ ONLY"),
    ],
)
def test_the_transaction_begins_with_the_first_statement(
    db: Database, options: dict[str, bool], sqlite_begin: str, postgresql_first: str | None
) -> None:
    with statements(db) as seen:
        work = db.begin(**options)
        work.session.scalar(select(func.count()).select_from(Counter))
        assert work.needs_io
        work.finish(failed=False)
    if db.is_sqlite:
        assert seen[0] == sqlite_begin
    else:
        assert seen[0] == postgresql_first or (postgresql_first is None and seen[0].startswith("SELECT"))
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_unit_of_work_finishes_once(db: Database) -> None:
    hooks: list[str] = []
    work = db.begin()
    assert unit_of_work_of(work.session) is work
    work.session.add(Counter(name="once", value=1))
    after_commit(work.session, lambda: hooks.append("committed"))
    work.finish(failed=False)
    work.finish(failed=True)  # too late to roll back: the first finish decided
    assert (_count(db), hooks) == (1, ["committed"])
    assert unit_of_work_of(Session(db.engine)) is None


def test_a_failed_unit_of_work_rolls_back_and_skips_its_hooks(db: Database) -> None:
    hooks: list[str] = []
    work = db.begin()
    work.session.add(Counter(name="no", value=1))
    work.session.flush()
    after_commit(work.session, lambda: hooks.append("committed"))
    work.finish(failed=True)
    assert (_count(db), hooks) == (0, [])


def test_a_reader_that_writes_after_another_commit(db: Database) -> None:
    """Why audited reads lock early: on SQLite a read transaction cannot write once another
    transaction has committed since it began; PostgreSQL lets it."""
    work = db.begin(lock_early=False)
    assert _count(db) == 0
    work.session.scalar(select(func.count()).select_from(Counter))  # begins a read transaction
    with db.unit_of_work() as other:
        other.add(Counter(name="other", value=1))
    work.session.add(Counter(name="mine", value=1))
    if db.is_sqlite:
        with pytest.raises(OperationalError, match="database is locked"):
            work.session.flush()
        work.finish(failed=True)
        assert _count(db) == 1
    else:
        work.finish(failed=False)
        assert _count(db) == 2


def test_lock_early_begins_again_as_a_writer(db: Database) -> None:
    work = db.begin(lock_early=False)
    work.session.scalar(select(func.count()).select_from(Counter))
    with db.unit_of_work() as other:
        other.add(Counter(name="other", value=1))
    with statements(db) as seen:
        work.lock_early()
        work.session.add(Counter(name="mine", value=1))
        work.finish(failed=False)
    assert _count(db) == 2
    if db.is_sqlite:
        assert seen[0] == "BEGIN IMMEDIATE"

    written = db.begin(lock_early=False)
    written.session.add(Counter(name="third", value=1))
    written.session.flush()
    with pytest.raises(RuntimeError):
        written.lock_early()
    written.finish(failed=True)
    with pytest.raises(RuntimeError):
        db.begin(read_only=True).lock_early()


def test_sqlite_writers_of_one_process_queue_on_the_gate(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second writer begins only once the first is back in the pool; a writer that failed
    releases the gate (else the next one would time out on it)."""
    if not db.is_sqlite:
        pytest.skip("the writer gate is SQLite's")
    monkeypatch.setattr(db_module, "WRITER_WAIT_SECONDS", 5.0)
    steps: list[str] = []
    first_began = threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with db.unit_of_work() as session:
            session.add(Counter(name="first", value=1))
            session.flush()
            steps.append("first wrote")
            first_began.set()
            release_first.wait(10)
            steps.append("first commits")

    def second() -> None:
        with db.unit_of_work() as session:
            session.add(Counter(name="second", value=1))
            session.flush()
            steps.append("second wrote")

    one = threading.Thread(target=first)
    one.start()
    assert first_began.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.3)  # the second writer is waiting on the gate, not failing
    assert two.is_alive() and steps == ["first wrote"]
    release_first.set()
    one.join(10)
    two.join(10)
    assert steps == ["first wrote", "first commits", "second wrote"]

    # While a writer holds it, another waits on the gate (not in SQLite's busy loop) and gives up
    # after WRITER_WAIT_SECONDS with the gate's own message.
    monkeypatch.setattr(db_module, "WRITER_WAIT_SECONDS", 0.2)
    holder = db.begin()
    holder.session.add(Counter(name="holder", value=1))
    holder.session.flush()
    errors: list[str] = []

    def blocked() -> None:
        try:
            with db.unit_of_work() as session:
                session.add(Counter(name="blocked", value=1))
        except OperationalError as error:
            errors.append(str(error))

    waiter = threading.Thread(target=blocked)
    waiter.start()
    waiter.join(10)
    holder.finish(failed=True)
    assert len(errors) == 1 and "writer queue timed out" in errors[0]

    monkeypatch.setattr(db_module, "WRITER_WAIT_SECONDS", 5.0)
    with pytest.raises(ValueError), db.unit_of_work() as session:
        session.add(Counter(name="failed", value=1))
        session.flush()
        raise ValueError("boom")
    with db.unit_of_work() as session:  # would wait WRITER_WAIT_SECONDS and fail if still held
        session.add(Counter(name="after", value=1))
    assert _count(db) == 3
