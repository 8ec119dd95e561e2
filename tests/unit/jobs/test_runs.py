"""The background-run facility: a run goes queued → running → done with its result and progress,
or failed with a code; a finished run is never run again; the queue's task runs it; and a run is
seen only by those who may read what its work reads (its starter only, for owner-only kinds)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from guanxi.jobs import queue, runs
from guanxi.jobs.models import BackgroundRun
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, NotFound, PermissionDenied
from guanxi.kit.principal import Principal

ANALYST = Principal(id="u-analyst", name="李娜", role="analyst")
OTHER_ANALYST = Principal(id="u-analyst-2", name="赵磊", role="analyst")
ADMIN = Principal(id="u-admin", name="管理员", role="admin")
SALES = Principal(id="u-sales", name="陈静", role="sales")
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


@pytest.fixture(autouse=True)
def kinds() -> Iterator[None]:
    calls.clear()
    runs.register("test.count", count_to, resource="liability")
    runs.register("test.refuse", refuse, resource="liability")
    runs.register("test.crash", crash, resource="liability")
    runs.register("test.mine", count_to, resource="liability", owner_only=True)
    yield
    for name in ("test.count", "test.refuse", "test.crash", "test.mine"):
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


def test_starting_needs_the_permission_of_what_the_work_reads(db: Database) -> None:
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        runs.create(session, SALES, "test.count", {"n": 1})
    with pytest.raises(NotFound), db.unit_of_work() as session:
        runs.create(session, ANALYST, "test.no_such_kind", {})


def test_runs_are_seen_by_those_who_may_read_them(db: Database) -> None:
    shared = _create(db, "test.count", n=1)
    mine = _create(db, "test.mine", n=1)
    with db.unit_of_work(read_only=True) as session:
        assert runs.get(session, OTHER_ANALYST, shared).id == shared
        with pytest.raises(PermissionDenied):
            runs.get(session, SALES, shared)
        assert runs.get(session, ANALYST, mine).id == mine
        assert runs.get(session, ADMIN, mine).id == mine
        with pytest.raises(PermissionDenied):
            runs.get(session, OTHER_ANALYST, mine)
        with pytest.raises(NotFound):
            runs.get(session, ANALYST, shared, kind="test.mine")
        assert [r.id for r in runs.recent(session, OTHER_ANALYST, "test.mine")] == []
        assert [r.id for r in runs.recent(session, ANALYST, "test.mine")] == [mine]
        assert [r.id for r in runs.recent(session, OTHER_ANALYST, "test.count")] == [shared]
