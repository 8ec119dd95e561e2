"""Transactional outbox: events are rows written in the business transaction and delivered after
commit, at least once, to idempotent handlers.

Each (event, handler) pair is recorded in `outbox_deliveries` inside the same transaction as the
handler's own writes, so a handler that writes to the database runs effectively once; handlers with
external effects must still be idempotent (key on the event id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from guanxi.kit import clock, group_commit
from guanxi.kit.db import Database, after_commit
from guanxi.kit.models import Base, table_of

log = logging.getLogger(__name__)

Handler = Callable[[Session, "OutboxEvent"], None]
BatchHandler = Callable[[Session, "list[OutboxEvent]"], None]
_handlers: dict[str, dict[str, Handler]] = {}
# Handlers that take a delivery chunk's events of their topic at once (also in `_handlers`, as a
# one-event call, for the event-by-event path).
_batch_handlers: dict[str, dict[str, BatchHandler]] = {}
_kicker: Callable[[], None] | None = None
MAX_ATTEMPTS = 12


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    available_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # Set when an event failed MAX_ATTEMPTS times; it is no longer retried until an operator acts.
    dead_at: Mapped[datetime | None] = mapped_column(default=None)


class OutboxDelivery(Base):
    __tablename__ = "outbox_deliveries"

    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), primary_key=True)
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(default=clock.now)


def handles(topic: str, *, name: str | None = None) -> Callable[[Handler], Handler]:
    """Register an idempotent handler for a topic (at import time of the domain's handlers).

    The handler's name is what `outbox_deliveries` records as delivered; it defaults to the
    function's dotted path. A handler that moves to another module passes its old path as `name`,
    so an event delivered to it before the move is not delivered again."""

    def register(handler: Handler) -> Handler:
        _handlers.setdefault(topic, {})[name or _default_name(handler)] = handler
        return handler

    return register


def handles_batch(topic: str, *, name: str | None = None) -> Callable[[BatchHandler], BatchHandler]:
    """Register an idempotent handler that takes several events of a topic in one call.

    A delivery chunk calls it once with the chunk's events of its topic that it has not yet
    handled (one savepoint, one delivery row per event); if that call fails, each event is given
    to it alone, so one bad event fails only itself. Handlers whose work per event is a query
    (refresh these customers' tags) do it once per chunk instead of once per event, which on
    SQLite also shortens how long delivery holds the write lock the API's writer waits for."""

    def register(handler: BatchHandler) -> BatchHandler:
        key = name or _default_name(handler)
        _batch_handlers.setdefault(topic, {})[key] = handler
        _handlers.setdefault(topic, {})[key] = _one_at_a_time(handler)
        return handler

    return register


def _one_at_a_time(handler: BatchHandler) -> Handler:
    def deliver_one(session: Session, event: OutboxEvent) -> None:
        handler(session, [event])

    return deliver_one


def _default_name(handler: Handler | BatchHandler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


def unregister(topic: str, handler: Handler | BatchHandler) -> None:
    registered, batches = _handlers.get(topic, {}), _batch_handlers.get(topic, {})
    for name in [n for n, h in registered.items() if handler in (h, batches.get(n)) or n == _default_name(handler)]:
        del registered[name]
        batches.pop(name, None)


def set_kicker(kicker: Callable[[], None] | None) -> None:
    """Called after a commit that wrote events, to wake the dispatcher (the job queue sets this)."""
    global _kicker
    _kicker = kicker


def _kick() -> None:
    if _kicker is not None:
        try:
            _kicker()
        except Exception:  # the periodic sweep delivers it anyway
            log.exception("could not wake the outbox dispatcher")


def emit(session: Session, topic: str, payload: dict[str, Any]) -> OutboxEvent:
    """Record an event in the caller's transaction; it leaves only if that transaction commits.

    In a group-commit batch the batch's events are one insert just before its commit (the
    event returned is then not in the session)."""
    now = clock.now()
    event = OutboxEvent(topic=topic, payload=payload, created_at=now, available_at=now)
    pending = group_commit.deferred(session, "outbox", _insert_events)
    if pending is None:
        session.add(event)
    else:
        pending.append({"topic": topic, "payload": dict(payload), "created_at": now, "available_at": now})
    after_commit(session, _kick)
    return event


def _insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(insert(table_of(OutboxEvent)), rows)


def emit_many(session: Session, topic: str, payloads: list[dict[str, Any]]) -> int:
    """Record many events of one topic at once (bulk jobs); same guarantees as `emit`."""
    if not payloads:
        return 0
    now = clock.now()
    session.execute(
        insert(table_of(OutboxEvent)),  # Core: no ORM bookkeeping per row in bulk jobs
        [{"topic": topic, "payload": payload, "created_at": now, "available_at": now} for payload in payloads],
    )
    after_commit(session, _kick)
    return len(payloads)


def _due_ids(database: Database, limit: int) -> list[int]:
    with database.unit_of_work(read_only=True) as session:
        return list(
            session.scalars(
                select(OutboxEvent.id)
                .where(
                    OutboxEvent.delivered_at.is_(None),
                    OutboxEvent.dead_at.is_(None),
                    OutboxEvent.available_at <= clock.now(),
                )
                .order_by(OutboxEvent.id)
                .limit(limit)
            )
        )


def has_due(database: Database) -> bool:
    """Whether any event is waiting for delivery now (failed ones wait for their back-off)."""
    return bool(_due_ids(database, 1))


# Events delivered per transaction. One transaction per event made delivery cost a commit and
# the write lock per order (on SQLite it competed with the API's writer for the lock); a chunk
# shares them. A chunk whose transaction fails as a whole is delivered again event by event.
DELIVERY_CHUNK = 50


def dispatch_pending(database: Database, *, limit: int = 100) -> int:
    """Deliver up to `limit` due events; returns how many were fully delivered."""
    ids = _due_ids(database, limit)
    delivered = 0
    for start in range(0, len(ids), DELIVERY_CHUNK):
        chunk = ids[start : start + DELIVERY_CHUNK]
        if len(chunk) == 1:
            delivered += _deliver_one(database, chunk[0])
            continue
        try:
            delivered += _deliver_chunk(database, chunk)
        except Exception:  # the shared transaction failed: each event alone, so one cannot hold up the rest
            log.warning("outbox chunk of %d events failed as a whole; delivering them one by one", len(chunk))
            delivered += sum(_deliver_one(database, event_id) for event_id in chunk)
    return delivered


def _locked_events(session: Session, database: Database, event_ids: list[int]) -> list[OutboxEvent]:
    stmt = select(OutboxEvent).where(OutboxEvent.id.in_(event_ids)).order_by(OutboxEvent.id)
    if not database.is_sqlite:
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _deliveries(session: Session, event_ids: list[int]) -> dict[int, set[str]]:
    done: dict[int, set[str]] = {}
    rows = session.execute(
        select(OutboxDelivery.event_id, OutboxDelivery.handler).where(OutboxDelivery.event_id.in_(event_ids))
    )
    for event_id, handler in rows:
        done.setdefault(event_id, set()).add(handler)
    return done


def _deliver_chunk(database: Database, event_ids: list[int]) -> int:
    with database.unit_of_work() as session:
        events = [e for e in _locked_events(session, database, event_ids) if e.delivered_at is None]
        done = _deliveries(session, [e.id for e in events])
        _run_batch_handlers(session, events, done)
        return sum(_deliver(session, event, done.setdefault(event.id, set())) for event in events)


def _run_batch_handlers(session: Session, events: list[OutboxEvent], done: dict[int, set[str]]) -> None:
    """Each batch handler once over the chunk's events of its topic; what succeeds is booked as
    delivered in `done`, so `_deliver` skips it. A failed call books nothing, and `_deliver` then
    gives the handler each event alone."""
    by_topic: dict[str, list[OutboxEvent]] = {}
    for event in events:
        by_topic.setdefault(event.topic, []).append(event)
    for topic, handlers in _batch_handlers.items():
        for name, handler in handlers.items():
            waiting = [e for e in by_topic.get(topic, ()) if name not in done.get(e.id, ())]
            if len(waiting) < 2:
                continue
            try:
                with session.begin_nested():
                    handler(session, waiting)
                    session.add_all([OutboxDelivery(event_id=e.id, handler=name) for e in waiting])
            except Exception:  # retried event by event below, which isolates the bad one
                log.warning(
                    "outbox batch handler %s failed on %d events; delivering them one by one", name, len(waiting)
                )
                continue
            for event in waiting:
                done.setdefault(event.id, set()).add(name)


def _deliver_one(database: Database, event_id: int) -> bool:
    with database.unit_of_work() as session:
        found = _locked_events(session, database, [event_id])
        if not found or found[0].delivered_at is not None:
            return False
        return _deliver(session, found[0], _deliveries(session, [event_id]).get(event_id, set()))


def _deliver(session: Session, event: OutboxEvent, done: set[str]) -> bool:
    """Run the event's handlers not yet done, each in its own savepoint, and book the attempt."""
    failed: str | None = None
    for name, handler in _handlers.get(event.topic, {}).items():
        if name in done:
            continue
        try:
            with session.begin_nested():
                handler(session, event)
                session.add(OutboxDelivery(event_id=event.id, handler=name))
        except Exception as exc:  # a failing handler must not block the others
            log.exception("outbox handler %s failed on event %s", name, event.id)
            failed = f"{name}: {exc}"[:2000]
    event.attempts += 1
    if failed is None:
        event.delivered_at = clock.now()
        event.last_error = None
        return True
    event.last_error = failed
    if event.attempts >= MAX_ATTEMPTS:
        event.dead_at = clock.now()
    else:
        event.available_at = clock.now() + timedelta(seconds=min(2**event.attempts, 3600))
    return False
