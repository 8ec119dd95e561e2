"""Outbox events leave only after commit, reach each handler once, and failing handlers back off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.kit.outbox import OutboxDelivery, OutboxEvent

TOPIC = "test.outbox"
START = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


class Recorder:
    def __init__(self, *, fail_times: int = 0) -> None:
        self.calls: list[dict[str, object]] = []
        self.fail_times = fail_times

    def __call__(self, session: Session, event: OutboxEvent) -> None:
        self.calls.append(dict(event.payload))
        if len(self.calls) <= self.fail_times:
            raise RuntimeError(f"handler failure {len(self.calls)}")


good = Recorder()
flaky = Recorder()


def good_handler(session: Session, event: OutboxEvent) -> None:
    good(session, event)


def flaky_handler(session: Session, event: OutboxEvent) -> None:
    flaky(session, event)


@pytest.fixture(autouse=True)
def handlers() -> Iterator[None]:
    good.calls.clear()
    flaky.calls.clear()
    flaky.fail_times = 0
    outbox.handles(TOPIC)(good_handler)
    yield
    outbox.unregister(TOPIC, good_handler)
    outbox.unregister(TOPIC, flaky_handler)
    outbox.set_kicker(None)


def _events(db: Database) -> list[tuple[int, str, int, bool, bool]]:
    with db.unit_of_work(read_only=True) as session:
        return [
            (e.id, e.topic, e.attempts, e.delivered_at is not None, e.dead_at is not None)
            for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        ]


def _deliveries(db: Database) -> list[tuple[int, str]]:
    with db.unit_of_work(read_only=True) as session:
        return [(d.event_id, d.handler.rsplit(".", 1)[-1]) for d in session.scalars(select(OutboxDelivery))]


def test_emit_in_a_rolled_back_unit_of_work_leaves_nothing(db: Database) -> None:
    kicks: list[int] = []
    outbox.set_kicker(lambda: kicks.append(1))
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        outbox.emit(session, TOPIC, {"n": 1})
        session.flush()
        raise RuntimeError("abort")
    assert _events(db) == []
    assert kicks == []
    assert outbox.dispatch_pending(db) == 0
    assert good.calls == []


def test_committed_event_is_delivered_exactly_once(db: Database) -> None:
    with db.unit_of_work() as session:
        outbox.emit(session, TOPIC, {"customer_id": "c1"})
    assert outbox.dispatch_pending(db) == 1
    assert outbox.dispatch_pending(db) == 0
    assert good.calls == [{"customer_id": "c1"}]
    [(event_id, topic, attempts, delivered, dead)] = _events(db)
    assert (topic, attempts, delivered, dead) == (TOPIC, 1, True, False)
    assert _deliveries(db) == [(event_id, "good_handler")]


def test_events_without_handlers_are_marked_delivered(db: Database) -> None:
    with db.unit_of_work() as session:
        outbox.emit(session, "nobody.listens", {})
    assert outbox.dispatch_pending(db) == 1
    assert _events(db)[0][1:] == ("nobody.listens", 1, True, False)


def test_dispatch_respects_the_limit_and_order(db: Database) -> None:
    with db.unit_of_work() as session:
        for n in range(5):
            outbox.emit(session, TOPIC, {"n": n})
    assert outbox.dispatch_pending(db, limit=2) == 2
    assert outbox.dispatch_pending(db, limit=10) == 3
    assert [c["n"] for c in good.calls] == [0, 1, 2, 3, 4]


def test_failing_handler_backs_off_others_are_not_repeated(db: Database) -> None:
    flaky.fail_times = 2
    outbox.handles(TOPIC)(flaky_handler)
    with clock.frozen(START) as frozen:
        with db.unit_of_work() as session:
            outbox.emit(session, TOPIC, {"n": 1})
        assert outbox.dispatch_pending(db) == 0
        assert len(good.calls) == 1
        assert len(flaky.calls) == 1
        [(event_id, _, attempts, delivered, _)] = _events(db)
        assert (attempts, delivered) == (1, False)
        with db.unit_of_work(read_only=True) as session:
            event = session.get(OutboxEvent, event_id)
            assert event is not None
            assert clock.as_utc(event.available_at) == START + timedelta(seconds=2)
            assert event.last_error is not None
            assert "handler failure 1" in event.last_error

        # Not due yet: nothing runs.
        frozen.advance(timedelta(seconds=1))
        assert outbox.dispatch_pending(db) == 0
        assert len(flaky.calls) == 1

        frozen.advance(timedelta(seconds=1))
        assert outbox.dispatch_pending(db) == 0
        assert len(flaky.calls) == 2
        with db.unit_of_work(read_only=True) as session:
            event = session.get(OutboxEvent, event_id)
            assert event is not None
            assert clock.as_utc(event.available_at) == START + timedelta(seconds=2 + 4)

        frozen.advance(timedelta(seconds=4))
        assert outbox.dispatch_pending(db) == 1
        assert len(flaky.calls) == 3
        assert len(good.calls) == 1  # delivered once, never repeated on retries
        assert _events(db)[0][2:] == (3, True, False)
        assert sorted(h for _, h in _deliveries(db)) == ["flaky_handler", "good_handler"]
        with db.unit_of_work(read_only=True) as session:
            event = session.get(OutboxEvent, event_id)
            assert event is not None
            assert event.last_error is None


def test_event_is_dead_after_max_attempts(db: Database) -> None:
    flaky.fail_times = 10_000
    outbox.handles(TOPIC)(flaky_handler)
    with clock.frozen(START) as frozen:
        with db.unit_of_work() as session:
            outbox.emit(session, TOPIC, {"n": 1})
        for _ in range(outbox.MAX_ATTEMPTS):
            assert outbox.dispatch_pending(db) == 0
            frozen.advance(timedelta(hours=1, seconds=1))
        assert len(flaky.calls) == outbox.MAX_ATTEMPTS
        assert _events(db)[0][2:] == (outbox.MAX_ATTEMPTS, False, True)
        frozen.advance(timedelta(days=30))
        assert outbox.dispatch_pending(db) == 0
        assert len(flaky.calls) == outbox.MAX_ATTEMPTS
        assert len(good.calls) == 1
        assert [h for _, h in _deliveries(db)] == ["good_handler"]


def test_handler_writes_roll_back_with_its_failure(db: Database) -> None:
    def writes_then_fails(session: Session, event: OutboxEvent) -> None:
        outbox.emit(session, "follow.up", {"from": event.id})
        session.flush()
        raise RuntimeError("after writing")

    outbox.handles(TOPIC)(writes_then_fails)
    try:
        with db.unit_of_work() as session:
            outbox.emit(session, TOPIC, {})
        assert outbox.dispatch_pending(db) == 0
        with db.unit_of_work(read_only=True) as session:
            assert session.scalar(select(func.count()).where(OutboxEvent.topic == "follow.up")) == 0
    finally:
        outbox.unregister(TOPIC, writes_then_fails)


def test_kicker_runs_only_after_commit(db: Database) -> None:
    seen: list[int] = []

    def kicker() -> None:
        # The event must already be visible to another transaction.
        with db.unit_of_work(read_only=True) as other:
            seen.append(int(other.scalar(select(func.count()).select_from(OutboxEvent)) or 0))

    outbox.set_kicker(kicker)
    with db.unit_of_work() as session:
        outbox.emit(session, TOPIC, {"n": 1})
        outbox.emit(session, TOPIC, {"n": 2})
        session.flush()
        assert seen == []
    assert seen == [2]  # once per commit, not once per event


def test_failing_kicker_does_not_undo_the_commit(db: Database) -> None:
    def broken() -> None:
        raise ConnectionError("queue is down")

    outbox.set_kicker(broken)
    with db.unit_of_work() as session:
        outbox.emit(session, TOPIC, {"n": 1})
    assert len(_events(db)) == 1
    assert outbox.dispatch_pending(db) == 1


def test_a_chunk_of_events_shares_a_transaction_and_a_failing_handler_fails_only_its_event(db: Database) -> None:
    flaky.fail_times = 1  # its first call (the first event) fails, the others succeed
    outbox.handles(TOPIC)(flaky_handler)
    with db.unit_of_work() as session:
        for n in range(outbox.DELIVERY_CHUNK + 3):
            outbox.emit(session, TOPIC, {"n": n})
    assert outbox.dispatch_pending(db, limit=1000) == outbox.DELIVERY_CHUNK + 2
    events = _events(db)
    first = events[0][0]
    assert events[0][2:] == (1, False, False)  # attempted once, waiting for its back-off
    assert all(e[2:] == (1, True, False) for e in events[1:])
    assert [c["n"] for c in good.calls] == list(range(outbox.DELIVERY_CHUNK + 3))
    # the good handler's delivery of the failed event is kept, so its retry runs only the flaky one
    assert (first, "good_handler") in _deliveries(db)
    assert (first, "flaky_handler") not in _deliveries(db)
    assert len(_deliveries(db)) == 2 * (outbox.DELIVERY_CHUNK + 3) - 1


def test_a_chunk_whose_transaction_fails_is_delivered_event_by_event(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.unit_of_work() as session:
        for n in range(4):
            outbox.emit(session, TOPIC, {"n": n})

    def broken_chunk(database: Database, event_ids: list[int]) -> int:
        raise RuntimeError("the chunk's transaction failed")

    monkeypatch.setattr(outbox, "_deliver_chunk", broken_chunk)
    assert outbox.dispatch_pending(db) == 4
    assert [c["n"] for c in good.calls] == [0, 1, 2, 3]
    assert all(e[2:] == (1, True, False) for e in _events(db))
