"""Wake-ups of the outbox dispatcher coalesce: however many commits write events, the queue holds
at most a couple of dispatch tasks, and running them delivers every event."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.jobs import queue
from guanxi.kit import outbox
from guanxi.kit.db import Database
from guanxi.kit.outbox import OutboxEvent

TOPIC = "test.wakeups"
received: list[int] = []


def on_event(session: Session, event: OutboxEvent) -> None:
    received.append(int(event.payload["n"]))


@pytest.fixture
def real_queue() -> Iterator[None]:
    """The SQLite queue in the test home, consumed by hand (no consumer thread)."""
    received.clear()
    outbox.handles(TOPIC)(on_event)
    queue.huey.flush()
    queue.enable_wakeups()
    try:
        yield
    finally:
        queue.disable_wakeups()
        outbox.unregister(TOPIC, on_event)
        queue.huey.flush()


def _queued(name: str) -> int:
    return sum(1 for task in queue.huey.pending() if task.name == name)


def _run_queue() -> int:
    ran = 0
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)
        ran += 1
    return ran


def _undelivered(db: Database) -> int:
    with db.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).where(OutboxEvent.delivered_at.is_(None))) or 0)


def test_many_commits_queue_one_dispatch_and_all_are_delivered(db: Database, real_queue: None) -> None:
    for n in range(40):
        with db.unit_of_work() as session:
            outbox.emit(session, TOPIC, {"n": n})
    assert _queued("dispatch_outbox") == 1
    assert _run_queue() == 1
    assert received == list(range(40))
    assert _undelivered(db) == 0


def test_a_commit_after_the_dispatcher_started_queues_the_next_round(db: Database, real_queue: None) -> None:
    with db.unit_of_work() as session:
        outbox.emit(session, TOPIC, {"n": 1})
    task = queue.huey.dequeue()
    assert task is not None and task.name == "dispatch_outbox"
    # Events committed while a round is running are not lost: the round cleared the wake flag
    # before it read what is due, so the next commit queues one more round.
    original = outbox.dispatch_pending

    def commit_during_round(database: Database, *, limit: int = 100) -> int:
        delivered = original(database, limit=limit)
        if received == [1]:
            with db.unit_of_work() as session:
                outbox.emit(session, TOPIC, {"n": 2})
        return delivered

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(outbox, "dispatch_pending", commit_during_round)
        queue.huey.execute(task)
    assert _queued("dispatch_outbox") == 1
    assert _run_queue() == 1
    assert received == [1, 2]
    assert _undelivered(db) == 0


def test_the_sweep_clears_a_stale_wake_flag(db: Database, real_queue: None) -> None:
    with db.unit_of_work() as session:
        outbox.emit(session, TOPIC, {"n": 1})
    queue.huey.storage.flush_queue()
    # The queued round was lost (a flushed queue); the sweep delivers and re-arms wake-ups.
    assert queue.sweep_outbox.call_local() == 1
    with db.unit_of_work() as session:
        outbox.emit(session, TOPIC, {"n": 2})
    assert _queued("dispatch_outbox") == 1
    assert _run_queue() == 1
    assert received == [1, 2]
