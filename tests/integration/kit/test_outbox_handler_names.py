"""A handler's delivery name can be pinned, so a handler that moves module is not delivered twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.kit import outbox
from guanxi.kit.db import Database
from guanxi.kit.outbox import OutboxDelivery, OutboxEvent

TOPIC = "test.outbox_names"
PINNED = "guanxi.somewhere_else.on_event"
calls: list[int] = []


def on_event(session: Session, event: OutboxEvent) -> None:
    calls.append(int(event.payload["n"]))


@pytest.fixture(autouse=True)
def pinned_handler() -> Iterator[None]:
    calls.clear()
    outbox.handles(TOPIC, name=PINNED)(on_event)
    yield
    outbox.unregister(TOPIC, on_event)


def _deliveries(db: Database) -> list[tuple[int, str]]:
    with db.unit_of_work(read_only=True) as session:
        return [(d.event_id, d.handler) for d in session.scalars(select(OutboxDelivery))]


def test_the_pinned_name_is_what_the_delivery_records(db: Database) -> None:
    with db.unit_of_work() as session:
        event = outbox.emit(session, TOPIC, {"n": 1})
        session.flush()
        event_id = event.id
    assert outbox.dispatch_pending(db) == 1
    assert calls == [1]
    assert _deliveries(db) == [(event_id, PINNED)]


def test_an_event_delivered_under_the_pinned_name_is_not_delivered_again(db: Database) -> None:
    with db.unit_of_work() as session:
        event = outbox.emit(session, TOPIC, {"n": 2})
        session.flush()
        session.add(OutboxDelivery(event_id=event.id, handler=PINNED))
    assert outbox.dispatch_pending(db) == 1
    assert calls == []


def test_unregister_removes_a_handler_registered_under_a_pinned_name(db: Database) -> None:
    outbox.unregister(TOPIC, on_event)
    with db.unit_of_work() as session:
        outbox.emit(session, TOPIC, {"n": 3})
    assert outbox.dispatch_pending(db) == 1
    assert calls == []
    assert _deliveries(db) == []
