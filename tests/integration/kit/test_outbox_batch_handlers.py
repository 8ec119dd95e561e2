"""Batch handlers: one call per delivery chunk and topic, and a failing chunk falls back to one
event at a time so that only the bad event fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.kit import outbox
from guanxi.kit.db import Database
from guanxi.kit.outbox import OutboxDelivery, OutboxEvent

TOPIC = "test.outbox_batch"
NAME = "guanxi.tests.on_many"
calls: list[list[int]] = []
per_event: list[int] = []


def on_many(session: Session, events: list[OutboxEvent]) -> None:
    numbers = [int(e.payload["n"]) for e in events]
    calls.append(numbers)
    if 13 in numbers:
        raise ValueError("unlucky")


def on_one(session: Session, event: OutboxEvent) -> None:
    per_event.append(int(event.payload["n"]))


@pytest.fixture(autouse=True)
def handlers() -> Iterator[None]:
    calls.clear()
    per_event.clear()
    outbox.handles_batch(TOPIC, name=NAME)(on_many)
    outbox.handles(TOPIC)(on_one)
    yield
    outbox.unregister(TOPIC, on_many)
    outbox.unregister(TOPIC, on_one)


def _emit(db: Database, numbers: list[int]) -> list[int]:
    with db.unit_of_work() as session:
        events = [outbox.emit(session, TOPIC, {"n": n}) for n in numbers]
        session.flush()
        return [e.id for e in events]


def _state(db: Database) -> tuple[list[tuple[int, str]], list[tuple[int, bool, int]]]:
    with db.unit_of_work(read_only=True) as session:
        deliveries = [
            (d.event_id, d.handler) for d in session.scalars(select(OutboxDelivery).order_by(OutboxDelivery.event_id))
        ]
        events = [
            (e.id, e.delivered_at is not None, e.attempts)
            for e in session.scalars(select(OutboxEvent).where(OutboxEvent.topic == TOPIC).order_by(OutboxEvent.id))
        ]
    return deliveries, events


def test_a_chunk_is_one_call_and_every_event_is_booked(db: Database) -> None:
    ids = _emit(db, [1, 2, 3])
    assert outbox.dispatch_pending(db) == 3
    assert calls == [[1, 2, 3]]
    assert per_event == [1, 2, 3]
    deliveries, events = _state(db)
    assert [d for d in deliveries if d[1] == NAME] == [(i, NAME) for i in ids]
    assert events == [(i, True, 1) for i in ids]


def test_a_failing_chunk_is_retried_event_by_event_and_only_the_bad_one_fails(db: Database) -> None:
    ids = _emit(db, [1, 13, 3])
    assert outbox.dispatch_pending(db) == 2
    assert calls == [[1, 13, 3], [1], [13], [3]]
    assert per_event == [1, 13, 3]  # the other handler is not held up
    deliveries, events = _state(db)
    assert [d for d in deliveries if d[1] == NAME] == [(ids[0], NAME), (ids[2], NAME)]
    assert events == [(ids[0], True, 1), (ids[1], False, 1), (ids[2], True, 1)]


def test_an_event_already_delivered_to_the_batch_handler_is_left_out_of_the_call(db: Database) -> None:
    ids = _emit(db, [1, 2, 3])
    with db.unit_of_work() as session:
        session.add(OutboxDelivery(event_id=ids[1], handler=NAME))
    assert outbox.dispatch_pending(db) == 3
    assert calls == [[1, 3]]


def test_unregister_removes_both_the_batch_and_the_one_event_path(db: Database) -> None:
    outbox.unregister(TOPIC, on_many)
    _emit(db, [1, 2])
    assert outbox.dispatch_pending(db) == 2
    assert calls == []
    assert per_event == [1, 2]
