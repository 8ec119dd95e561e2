"""The huey tasks deliver the outbox; with wake-ups enabled a commit delivers its events at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.config import get_settings
from guanxi.jobs import queue
from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.kit.outbox import OutboxEvent

TOPIC = "test.jobs"
received: list[int] = []


def on_event(session: Session, event: OutboxEvent) -> None:
    received.append(int(event.payload["n"]))


@pytest.fixture
def immediate() -> Iterator[None]:
    received.clear()
    outbox.handles(TOPIC)(on_event)
    queue.huey.immediate = True
    try:
        yield
    finally:
        queue.huey.immediate = False
        queue.disable_wakeups()
        outbox.unregister(TOPIC, on_event)


def _emit(db: Database, *numbers: int) -> None:
    with db.unit_of_work() as session:
        for n in numbers:
            outbox.emit(session, TOPIC, {"n": n})


def _undelivered(db: Database) -> int:
    with db.unit_of_work(read_only=True) as session:
        return len(list(session.scalars(select(OutboxEvent.id).where(OutboxEvent.delivered_at.is_(None)))))


def test_the_queue_lives_in_guanxi_home() -> None:
    assert queue.huey.name == "guanxi"
    assert type(queue.huey).__name__ == "SqliteHuey"
    assert queue.huey.storage_kwargs["filename"] == str(get_settings().resolved_home / "jobs.db")


def test_dispatch_outbox_task_delivers(db: Database, immediate: None) -> None:
    _emit(db, 1, 2)
    queue.dispatch_outbox()
    assert received == [1, 2]
    queue.dispatch_outbox()
    assert received == [1, 2]
    assert _undelivered(db) == 0


def test_sweep_delivers_everything_in_batches(db: Database, immediate: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _emit(db, *range(5))
    original = outbox.dispatch_pending
    monkeypatch.setattr(outbox, "dispatch_pending", lambda database: original(database, limit=2))
    assert queue.sweep_outbox.call_local() == 5
    assert received == [0, 1, 2, 3, 4]


def test_wakeups_deliver_right_after_commit(db: Database, immediate: None) -> None:
    queue.enable_wakeups()
    _emit(db, 7)
    assert received == [7]
    assert _undelivered(db) == 0
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        outbox.emit(session, TOPIC, {"n": 8})
        raise RuntimeError("rolled back")
    assert received == [7]


def test_sweep_gets_past_a_full_batch_of_failing_events(db: Database, immediate: None) -> None:
    """More failing events than one batch must not starve a good event queued behind them."""
    failing = "test.jobs.failing"

    def always_fails(session: Session, event: OutboxEvent) -> None:
        raise RuntimeError("downstream is down")

    outbox.handles(failing)(always_fails)
    try:
        with db.unit_of_work() as session:
            for n in range(105):
                outbox.emit(session, failing, {"n": n})
        _emit(db, 7)
        # Time stands still during the sweep: however slow the machine, no back-off runs out.
        with clock.frozen(clock.now()):
            assert queue.sweep_outbox.call_local() == 1
        assert received == [7]
        with db.unit_of_work(read_only=True) as session:
            attempts = set(session.scalars(select(OutboxEvent.attempts).where(OutboxEvent.topic == failing)))
        assert attempts == {1}
    finally:
        outbox.unregister(failing, always_fails)
