"""Group commit: the hot write routes hand their work to one writer thread per process, which runs
many requests' work in one transaction and answers each request only after that commit.

A route awaits `submit(kind, payload)` (a kind with a batch handler, e.g. "order") or `call(fn)`
(any `fn(session)`, run in a savepoint of its own). The writer takes what is waiting, up to
GUANXI_WRITE_BATCH_SIZE items, waiting at most GUANXI_WRITE_LINGER_MS after the oldest one arrived
for more to come, runs them in one unit of work (after-commit hooks, such as outbox wake-ups, run
once per batch), commits, and then settles every caller's future on its event loop.

Each caller gets exactly the answer it would get alone:
- an item's exception rolls back its own savepoint only and goes to that caller alone;
- an item that leaves the transaction unusable (a database error, a lost connection) rolls the
  whole batch back; the others run again without it, and it runs again alone for its own answer;
- a failed commit is retried item by item, each in its own transaction, unless the connection
  was lost during the commit: then nobody can tell whether it was written, and every caller
  gets the error, as it would alone (its retry with the same idempotency key replays or writes);
- a caller that goes away does not withdraw its item: it is written exactly once regardless.

GUANXI_GROUP_COMMIT=0 runs each item alone in its own unit of work in a worker thread (the
behaviour before group commit; the baseline of the differential tests and benchmarks).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, SessionTransaction
from starlette.concurrency import run_in_threadpool

from guanxi.config import get_settings

# The key of the after-commit hooks: a rolled-back savepoint takes its hooks back with it.
from guanxi.kit.db import _AFTER_COMMIT, Database, get_database, unit_of_work_of

log = logging.getLogger(__name__)

T = TypeVar("T")
CALL = "call"  # the generic kind: the payload is a function of the session
BatchHandler = Callable[[Session, Sequence[Any]], Sequence[Any]]
_handlers: dict[str, BatchHandler] = {}
_DEFERRED = "guanxi_group_commit_deferred"  # in a batch's session.info: name -> (flush, entries)
_LENGTHS = "guanxi_group_commit_lengths"  # in session.info: savepoint -> list lengths when it began


def register_batch(kind: str, handler: BatchHandler) -> None:
    """Run the payloads of `kind` with `handler(session, payloads) -> outcomes`: one outcome per
    payload, in order, each a result or the exception that payload raised. The handler must keep
    one payload's failure from touching the others (a savepoint per item, or its own fast path
    with a fallback); an exception it raises itself sends each of its payloads through it alone."""
    if kind == CALL:
        raise ValueError(f"{CALL!r} is the generic kind and takes no handler")
    _handlers[kind] = handler


def unregister_batch(kind: str) -> None:
    _handlers.pop(kind, None)


def handler_for(kind: str) -> BatchHandler:
    try:
        return _handlers[kind]
    except KeyError:
        raise KeyError(f"no batch handler registered for {kind!r}") from None


def deferred(
    session: Session, name: str, flush: Callable[[Session, list[Any]], Any], *, last: bool = False
) -> list[Any] | None:
    """Work that a writer's batch does once, just before it commits: the list to append to
    (`flush(session, entries)` then runs with every entry of the batch), or None when `session`
    is not a writer's batch (then do the work now). The entries an item appends leave the list
    when its savepoint rolls back, however the savepoint was begun. `last`: flushed after the
    others (work that takes a lock other transactions wait for)."""
    registry: dict[str, tuple[Callable[[Session, list[Any]], Any], list[Any], bool]] | None = session.info.get(
        _DEFERRED
    )
    if registry is None:
        return None
    if name not in registry:
        registry[name] = (flush, [], last)
    return registry[name][1]


def _track_savepoints(session: Session) -> None:
    """Deferred entries and after-commit hooks registered inside a savepoint that rolls back are
    forgotten with it (bookkeeping only: these listeners touch nothing but those lists)."""
    session.info[_DEFERRED] = {}
    event.listen(session, "after_transaction_create", _remember_lengths)
    event.listen(session, "after_soft_rollback", _forget_rolled_back)


def _lists(session: Session) -> dict[str, list[Any]]:
    lists = {name: entries for name, (_flush, entries, _last) in session.info.get(_DEFERRED, {}).items()}
    lists[_AFTER_COMMIT] = session.info.setdefault(_AFTER_COMMIT, [])
    return lists


def _remember_lengths(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        lengths = {name: len(entries) for name, entries in _lists(session).items()}
        session.info.setdefault(_LENGTHS, {})[transaction] = lengths


def _forget_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    lengths = session.info.get(_LENGTHS, {}).get(transaction) if transaction.nested else None
    if lengths is None:
        return
    for name, entries in _lists(session).items():
        del entries[lengths.get(name, 0) :]


def _run_deferred(session: Session) -> None:
    work = sorted(session.info.get(_DEFERRED, {}).values(), key=lambda entry: entry[2])
    for flush, entries, _last in work:
        if entries:
            flush(session, entries)


def enabled() -> bool:
    return get_settings().group_commit


async def submit(kind: str, payload: Any) -> Any:
    """The outcome of `payload` under the handler of `kind`, once it is committed (its
    exception is raised here). Cancelling the awaiting task does not withdraw the item."""
    if kind != CALL:
        handler_for(kind)  # an unknown kind fails here, loudly, in either mode
    if not enabled():
        return await run_in_threadpool(run_alone, kind, payload)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    _writer.enqueue(_Item(kind, payload, loop, future))
    # shield: a cancelled caller must not cancel the future the writer will settle.
    return await asyncio.shield(future)


async def call(fn: Callable[[Session], T]) -> T:
    """`fn(session)` in its own savepoint of the writer's next transaction, once committed."""
    result: T = await submit(CALL, fn)
    return result


def run_alone(kind: str, payload: Any) -> Any:
    """One item in its own unit of work (GUANXI_GROUP_COMMIT=0), in the calling thread."""
    with get_database().unit_of_work() as session:
        if kind == CALL:
            return payload(session)
        outcome = handler_for(kind)(session, [payload])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


async def end_request_unit_of_work(session: Session) -> None:
    """End a request's own unit of work before its work goes to the writer: on SQLite a request
    whose credential lookup began a write transaction holds the writer gate until it ends, and
    the writer would wait for it while it waits for the writer."""
    work = unit_of_work_of(session)
    if work is None:
        return
    if work.needs_io:
        await run_in_threadpool(work.finish, failed=False)
    else:
        work.finish(failed=False)


def start() -> None:
    """Start the writer thread now (it also starts with the first item)."""
    _writer.start()


def drain() -> None:
    """Wait until every item handed in so far has been written and answered."""
    _writer.drain()


def stop(timeout: float | None = None) -> None:
    """Write what is waiting, then end the writer thread (a later item starts it again);
    `timeout`: give up waiting for it after this many seconds."""
    _writer.stop(timeout)


@dataclass(eq=False)
class _Item:
    kind: str
    payload: Any
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    arrived: float = field(default_factory=time.monotonic)

    def settle(self, outcome: Any) -> None:
        # A closed loop (RuntimeError) means nobody waits for this answer any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(_settle, self.future, outcome)


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if future.done():  # cancelled: the caller went away (its item is written all the same)
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class _Poisoned(Exception):
    """These items left the transaction unusable."""

    def __init__(self, items: list[_Item], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.items = items
        self.cause = cause


class _BatchFailed(Exception):
    """The transaction could not begin or commit; `retry_alone` when each item may run again."""

    def __init__(self, cause: BaseException, *, retry_alone: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.retry_alone = retry_alone


def _poisons(session: Session, exc: BaseException) -> bool:
    """Whether the transaction may be unusable after `exc` was rolled back to its savepoint."""
    if isinstance(exc, OperationalError):  # locked, lost, timed out: the database's trouble
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return not session.in_transaction()


def _refuse_aborted(session: Session) -> None:
    """PostgreSQL answers COMMIT of a transaction aborted by an error that someone caught outside
    a savepoint with a silent ROLLBACK: no caller may be told its work was written."""
    info = getattr(session.connection().connection.dbapi_connection, "info", None)
    status = getattr(info, "transaction_status", None)
    if status is not None and getattr(status, "name", "") == "INERROR":
        raise RuntimeError("the transaction was aborted by an error caught outside a savepoint")


def _lost_connection(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _groups(items: list[_Item]) -> Iterator[tuple[str, list[_Item]]]:
    """Items by kind, kinds in order of first arrival, items in arrival order."""
    by_kind: dict[str, list[_Item]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    yield from by_kind.items()


class _Writer:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._busy = False
        self._database: Database | None = None
        self._connection: Connection | None = None

    # --- the callers' side -------------------------------------------------------------

    def enqueue(self, item: _Item) -> None:
        with self._cond:
            self._queue.append(item)
            self._ensure_thread()
            self._cond.notify_all()

    def start(self) -> None:
        with self._cond:
            self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="guanxi-group-commit", daemon=True)
            self._thread.start()

    def drain(self) -> None:
        with self._cond:
            while self._queue or self._busy:
                if self._thread is None or not self._thread.is_alive():
                    self._ensure_thread()
                self._cond.wait(0.5)

    def stop(self, timeout: float | None = None) -> None:
        with self._cond:
            self._stopping = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._cond:
            self._stopping = False
            if self._queue:  # handed in while it stopped: they are still owed an answer
                self._ensure_thread()

    def reset_after_fork(self) -> None:
        """A forked child has no writer thread: its state starts empty."""
        self.__init__()  # type: ignore[misc]

    # --- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (batch := self._take()) is not None:
                try:
                    outcomes = self._write(batch)
                except BaseException as exc:  # a bug here must not leave a caller waiting forever
                    log.exception("group commit failed on a batch of %d", len(batch))
                    outcomes = [(item, exc) for item in batch]
                answered = {id(item) for item, _ in outcomes}
                for item, outcome in outcomes:
                    item.settle(outcome)
                for item in batch:
                    if id(item) not in answered:
                        item.settle(RuntimeError("group commit gave this item no answer"))
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        finally:
            self._close_connection()
            with self._cond:
                if self._thread is threading.current_thread():
                    self._thread = None
                self._cond.notify_all()

    def _take(self) -> list[_Item] | None:
        """The next batch: what is waiting, up to the batch size, after at most the linger
        counted from the oldest item's arrival (items that waited through a batch go at once)."""
        settings = get_settings()
        size = settings.write_batch_size
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                self._cond.wait()
            deadline = self._queue[0].arrived + settings.write_linger_ms / 1000
            while len(self._queue) < size and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
            self._busy = True
            return batch

    def _write(self, batch: list[_Item]) -> list[tuple[_Item, Any]]:
        """Every item's outcome, each committed (or refused) as if it had run alone."""
        outcomes: list[tuple[_Item, Any]] = []
        alone: list[_Item] = []
        pending = batch
        while pending:
            try:
                outcomes.extend(self._transaction(pending))
                break
            except _Poisoned as poisoned:
                alone.extend(poisoned.items)
                pending = [item for item in pending if item not in poisoned.items]
            except _BatchFailed as failed:
                if failed.retry_alone and len(pending) > 1:
                    alone.extend(pending)
                else:
                    outcomes.extend((item, failed.cause) for item in pending)
                pending = []
        for item in alone:
            try:
                outcomes.extend(self._transaction([item]))
            except (_Poisoned, _BatchFailed) as failed:
                outcomes.append((item, failed.cause))
        return outcomes

    def _transaction(self, items: list[_Item]) -> list[tuple[_Item, Any]]:
        work = self._database_now().begin()
        session = work.session
        connection = self._kept_connection()
        if connection is not None:
            session.bind = connection
        _track_savepoints(session)
        committed = False
        try:
            try:
                session.connection()  # SQLite: BEGIN IMMEDIATE (the write lock) here
            except DBAPIError as exc:
                raise _BatchFailed(exc, retry_alone=False) from exc
            outcomes: list[tuple[_Item, Any]] = []
            for kind, group in _groups(items):
                if kind == CALL:
                    outcomes.extend((item, self._call(session, item)) for item in group)
                else:
                    outcomes.extend(self._handle(session, kind, group))
            try:
                _run_deferred(session)  # e.g. the batch's audit segment: its lock is held from here
                _refuse_aborted(session)
                session.commit()
            except Exception as exc:
                # A lost connection during COMMIT may or may not have committed: never write twice.
                raise _BatchFailed(exc, retry_alone=not _lost_connection(exc)) from exc
            committed = True
        finally:
            if not committed:
                self._end(work, failed=True)
        try:
            work.finish(failed=False)  # already committed: closes and runs the after-commit hooks
        except Exception:
            log.exception("an after-commit hook failed; the batch is committed")
        return outcomes

    @staticmethod
    def _end(work: Any, *, failed: bool) -> None:
        try:
            work.finish(failed=failed)
        except Exception:
            log.exception("could not roll back a group-commit batch")

    def _call(self, session: Session, item: _Item) -> Any:
        try:
            with session.begin_nested():
                return item.payload(session)
        except Exception as exc:
            if _poisons(session, exc):
                raise _Poisoned([item], exc) from exc
            return exc
        finally:
            # The next item sees the database, not objects this one loaded (as it would alone).
            session.expunge_all()

    def _handle(self, session: Session, kind: str, group: list[_Item]) -> list[tuple[_Item, Any]]:
        try:
            results = list(handler_for(kind)(session, [item.payload for item in group]))
            if len(results) != len(group):
                raise RuntimeError(f"the {kind!r} handler gave {len(results)} outcomes for {len(group)} items")
        except Exception as exc:
            raise _Poisoned(group, exc) from exc
        finally:
            session.expunge_all()
        for item, outcome in zip(group, results, strict=True):
            if isinstance(outcome, BaseException) and _poisons(session, outcome):
                raise _Poisoned([item], outcome)
        return list(zip(group, results, strict=True))

    # --- the database --------------------------------------------------------------------

    def _database_now(self) -> Database:
        """The process's database now: tests and the CLI swap it (`set_database`); a swapped-out
        one may be disposed, so its kept connection is closed and never used again."""
        database = get_database()
        if database is not self._database:
            self._close_connection(discard=True)
            self._database = database
        return database

    def _kept_connection(self) -> Connection | None:
        """PostgreSQL: one connection kept between batches, so no batch pays the pool's
        pre-ping (a lost one fails its first statement, which retries the batch on a new one).
        SQLite checks one out per batch: its writer gate is released when it goes back."""
        database = self._database
        if database is None or database.is_sqlite:
            return None
        connection = self._connection
        if connection is None or connection.closed or connection.invalidated:
            self._close_connection()
            connection = self._connection = database.engine.connect()
        return connection

    def _close_connection(self, *, discard: bool = False) -> None:
        """Give the kept connection back; `discard`: close it for good (its pool may be disposed,
        and a connection returned to a disposed pool would never be closed)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                if discard:
                    connection.invalidate()
                connection.close()
            except Exception:
                log.debug("could not close the writer's connection", exc_info=True)


_writer = _Writer()
atexit.register(stop, 60.0)  # write what is waiting before the interpreter ends (a hung database: not forever)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_writer.reset_after_fork)
