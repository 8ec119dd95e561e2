"""The background-run facility (kit.runs): a run goes queued → running → done with its result and
progress, or failed with a code; a finished run is never run again; the job queue's task runs it;
runs are read by kind (the domains check who may read them: tests/api/loyalty/test_simulation_runs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from guanxi.jobs import queue
from guanxi.kit import runs
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, NotFound
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun

ANALYST = Principal(id="u-analyst", name="李娜", role="analyst")
OTHER_ANALYST = Principal(id="u-analyst-2", name="赵磊", role="analyst")
calls: list[dict[str, Any]] = []


def count_to(context: runs.RunContext) -> dict[str, Any]:
    total = int(context.parameters["n"])
    for done in range(total + 1):
        context.progress(done, total)
    calls.append({"actor": context.actor, "parameters": context.parameters})
    return {"counted": total, "by": context.actor.name}


def refuse(context: runs.RunContext) -> dict[str, Any]:
    raise Conflict(message="the template changed meanwhile")


def crash(context: runs.RunContext) -> dict[str, Any]:
    raise RuntimeError("secret detail")


def busy(context: runs.RunContext) -> dict[str, Any]:
    raise OperationalError("SELECT 1", {}, Exception("database is locked"))


@pytest.fixture(autouse=True)
def kinds() -> Iterator[None]:
    calls.clear()
    kinds = {"test.count": count_to, "test.refuse": refuse, "test.crash": crash, "test.busy": busy}
    for name, work in kinds.items():
        runs.register(name, work)
    yield
    for name in kinds:
        runs._kinds.pop(name, None)


def _create(db: Database, kind: str, actor: Principal = ANALYST, **parameters: Any) -> str:
    with db.unit_of_work() as session:
        return runs.create(session, actor, kind, parameters).id


def _row(db: Database, run_id: str) -> BackgroundRun:
    with db.unit_of_work(read_only=True) as session:
        row = session.get(BackgroundRun, run_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_run_reports_progress_and_keeps_its_result(db: Database) -> None:
    run_id = _create(db, "test.count", n=3)
    queued = _row(db, run_id)
    assert (queued.status, queued.done, queued.total, queued.actor_name) == ("queued", 0, None, "李娜")
    heard: list[tuple[int, int | None]] = []
    finished = runs.run(db, run_id, on_progress=lambda done, total: heard.append((done, total)))
    assert heard == [(0, 3), (1, 3), (2, 3), (3, 3)]
    row = _row(db, run_id)
    assert (row.status, row.done, row.total, row.result) == ("done", 3, 3, {"counted": 3, "by": "李娜"})
    assert (row.error_code, row.error_message) == (None, None)
    assert row.started_at is not None and row.finished_at is not None and finished.status == "done"
    # The work ran as the person who started it, with their parameters.
    assert calls == [{"actor": ANALYST, "parameters": {"n": 3}}]


def test_a_finished_run_is_not_run_again(db: Database) -> None:
    run_id = _create(db, "test.count", n=1)
    runs.run(db, run_id)
    again = runs.run(db, run_id)
    assert again.status == "done" and len(calls) == 1


def test_a_domain_error_fails_the_run_with_its_code(db: Database) -> None:
    row = runs.run(db, _create(db, "test.refuse"))
    assert (row.status, row.error_code, row.error_message, row.result) == (
        "failed",
        "conflict",
        "the template changed meanwhile",
        None,
    )


def test_an_unexpected_error_fails_the_run_without_its_details(db: Database) -> None:
    row = runs.run(db, _create(db, "test.crash"))
    assert (row.status, row.error_code) == ("failed", "unexpected")
    assert "secret" not in (row.error_message or "")


def test_the_queue_task_runs_a_run(db: Database) -> None:
    run_id = _create(db, "test.count", n=2)
    queue.huey.immediate = True
    try:
        assert queue.run_background(run_id).get() == "done"
    finally:
        queue.huey.immediate = False
    assert _row(db, run_id).result == {"counted": 2, "by": "李娜"}


def test_an_unavailable_database_fails_the_run_as_unavailable(db: Database) -> None:
    row = runs.run(db, _create(db, "test.busy"))
    assert (row.status, row.error_code) == ("failed", "unavailable")


def test_only_registered_work_can_be_started(db: Database) -> None:
    with pytest.raises(NotFound), db.unit_of_work() as session:
        runs.create(session, ANALYST, "test.no_such_kind", {})


def test_runs_are_read_by_kind_and_listed_newest_first(db: Database) -> None:
    first = _create(db, "test.count", n=1)
    second = _create(db, "test.count", OTHER_ANALYST, n=2)
    other_kind = _create(db, "test.refuse")
    with db.unit_of_work(read_only=True) as session:
        assert runs.get(session, first, kind="test.count").parameters == {"n": 1}
        with pytest.raises(NotFound):
            runs.get(session, other_kind, kind="test.count")
        with pytest.raises(NotFound):
            runs.get(session, "01NOSUCHRUN", kind="test.count")
        assert [r.id for r in runs.recent(session, "test.count")] == [second, first]
        assert [r.id for r in runs.recent(session, "test.count", started_by=ANALYST.id)] == [first]


def test_a_run_that_stopped_moving_is_ended_as_interrupted(db: Database) -> None:
    stale, fresh = _create(db, "test.count", n=1), _create(db, "test.count", n=1)
    finished = _create(db, "test.count", n=1)
    runs.run(db, finished)
    later = _row(db, stale).updated_at + runs.INTERRUPTED_AFTER + timedelta(minutes=1)
    with db.unit_of_work() as session:
        row = session.get(BackgroundRun, fresh)
        assert row is not None
        row.updated_at = later - timedelta(minutes=5)  # reported progress a moment ago
    assert runs.end_interrupted(db, now=later) == 1
    assert (_row(db, stale).status, _row(db, stale).error_code) == ("failed", "interrupted")
    assert _row(db, fresh).status == "queued"
    assert _row(db, finished).status == "done"
    # An interrupted run is not run afterwards (a late queue task finds it ended).
    assert runs.run(db, stale).status == "failed" and calls == [{"actor": ANALYST, "parameters": {"n": 1}}]
