"""The group-commit writer: many callers' work in one transaction, each caller answered exactly as
if its work had run alone, nothing answered before it is committed."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from guanxi.config import reset_settings
from guanxi.customers.models import Customer
from guanxi.kit import group_commit, outbox
from guanxi.kit.db import Database, get_database, set_database
from guanxi.kit.errors import DomainError, ValidationFailed
from guanxi.kit.principal import SYSTEM
from guanxi.privacy import audit
from guanxi.privacy.models import AuditRecord
from tests.factories import create_customer

Factory = Callable[[], Awaitable[Any]]


async def in_one_batch(*callers: Factory) -> list[Any]:
    """Run `callers` so that all their items share one batch: a first item holds the writer busy
    until every other item is waiting (no timing involved). Outcomes in order, errors included."""
    started, release = threading.Event(), threading.Event()

    def hold(_session: Session) -> None:
        started.set()
        release.wait(30)

    holder = asyncio.ensure_future(group_commit.call(hold))
    assert await asyncio.to_thread(started.wait, 30)
    tasks = [asyncio.ensure_future(caller()) for caller in callers]
    await asyncio.sleep(0)  # each task runs up to its await: its item is queued
    release.set()
    await holder
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def customer_maker(name: str, phone: str, sessions: list[Session]) -> Factory:
    def make(session: Session) -> str:
        sessions.append(session)
        return create_customer(session, name=name, phone=phone).id

    return lambda: group_commit.call(make)


def counts(db: Database) -> tuple[int, list[str]]:
    with db.unit_of_work(read_only=True) as session:
        customers = session.scalar(select(func.count()).select_from(Customer)) or 0
        actions = list(session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))
        assert audit.verify(session).ok
    return customers, actions


@pytest.fixture
def writer(db: Database) -> Iterator[Database]:
    yield db
    group_commit.stop()


def test_each_caller_gets_its_own_answer_and_a_refusal_changes_nothing(writer: Database) -> None:
    sessions: list[Session] = []
    wakeups: list[int] = []
    outbox.set_kicker(lambda: wakeups.append(1))
    try:
        outcomes = asyncio.run(
            in_one_batch(
                customer_maker("王芳", "13800138001", sessions),
                customer_maker("坏号码", "12", sessions),
                customer_maker("李娜", "13800138002", sessions),
                customer_maker("王芳二", "13800138001", sessions),  # the first one's phone: refused
            )
        )
    finally:
        outbox.set_kicker(None)
    assert wakeups == [1]  # one wake-up for the batch's events
    with writer.unit_of_work(read_only=True) as session:
        topics = list(session.scalars(select(outbox.OutboxEvent.topic).order_by(outbox.OutboxEvent.id)))
    assert topics == ["customer.created", "customer.created"]
    assert isinstance(outcomes[0], str) and isinstance(outcomes[2], str)
    assert isinstance(outcomes[1], ValidationFailed)
    assert isinstance(outcomes[3], DomainError) and outcomes[3].status == 409
    assert len({id(s) for s in sessions}) == 1  # one transaction for all four
    assert counts(writer) == (2, ["customer.create", "customer.create"])


def test_an_item_that_poisons_the_transaction_runs_again_alone(writer: Database) -> None:
    sessions: list[Session] = []

    def poison(session: Session) -> None:
        sessions.append(session)
        create_customer(session, name="毒", phone="13800138009")
        raise OperationalError("UPDATE", None, Exception("database is locked"))

    outcomes = asyncio.run(
        in_one_batch(
            customer_maker("王芳", "13800138001", sessions),
            lambda: group_commit.call(poison),
            customer_maker("李娜", "13800138002", sessions),
        )
    )
    assert isinstance(outcomes[0], str) and isinstance(outcomes[2], str)
    assert isinstance(outcomes[1], OperationalError)
    # First try: together up to the poison; then the two good ones together; then the poison alone.
    assert len(sessions) == 5 and sessions[0] is sessions[1]
    assert sessions[2] is sessions[3] and len({id(s) for s in (sessions[0], sessions[2], sessions[4])}) == 3
    customers, actions = counts(writer)
    assert (customers, actions) == (2, ["customer.create", "customer.create"])
    with writer.unit_of_work(read_only=True) as session:
        assert {c.name for c in session.scalars(select(Customer))} == {"王芳", "李娜"}


def test_a_failed_commit_retries_each_item_alone(writer: Database) -> None:
    tries: list[str] = []

    def refuse(_session: Session, entries: list[Any]) -> None:
        raise IntegrityError("INSERT", None, Exception("deferred constraint"))

    def doomed(session: Session) -> str:
        tries.append("doomed")
        pending = group_commit.deferred(session, "test.refuse", refuse)
        assert pending is not None  # in a batch: the work waits for the commit
        pending.append(1)
        return create_customer(session, name="注定", phone="13800138009").id

    def good(name: str, phone: str) -> Factory:
        def make(session: Session) -> str:
            tries.append(name)
            return create_customer(session, name=name, phone=phone).id

        return lambda: group_commit.call(make)

    outcomes = asyncio.run(
        in_one_batch(good("王芳", "13800138001"), lambda: group_commit.call(doomed), good("李娜", "13800138002"))
    )
    assert isinstance(outcomes[0], str) and isinstance(outcomes[2], str)
    assert isinstance(outcomes[1], IntegrityError)
    assert tries == ["王芳", "doomed", "李娜", "王芳", "doomed", "李娜"]
    assert counts(writer) == (2, ["customer.create", "customer.create"])


def test_a_cancelled_caller_is_still_written_once(writer: Database) -> None:
    async def scenario() -> asyncio.Task[Any]:
        started, release = threading.Event(), threading.Event()

        def hold(_session: Session) -> None:
            started.set()
            release.wait(30)

        holder = asyncio.ensure_future(group_commit.call(hold))
        assert await asyncio.to_thread(started.wait, 30)
        task = asyncio.ensure_future(customer_maker("王芳", "13800138001", [])())
        await asyncio.sleep(0)  # queued
        task.cancel()
        await asyncio.sleep(0)
        release.set()
        await holder
        await asyncio.to_thread(group_commit.drain)
        return task

    task = asyncio.run(scenario())
    assert task.cancelled()
    assert counts(writer) == (1, ["customer.create"])


def test_a_batch_handler_gets_its_kind_in_order_and_a_failure_of_its_own_goes_alone(writer: Database) -> None:
    seen: list[list[str]] = []

    def handler(session: Session, payloads: Sequence[str]) -> list[object]:
        seen.append(list(payloads))
        if "explode" in payloads and len(payloads) > 1:
            raise RuntimeError("the whole batch failed")
        outcomes: list[object] = []
        for name in payloads:
            try:
                with session.begin_nested():
                    audit.record(session, SYSTEM, "test.kind", entity_id=name)
                    if name.startswith("bad"):
                        raise ValidationFailed(message=name)
                    outcomes.append(name.upper())
            except ValidationFailed as exc:
                outcomes.append(exc)
        return outcomes

    group_commit.register_batch("test.kind", handler)
    try:
        first = asyncio.run(in_one_batch(*(_submitter(name) for name in ["a", "bad1", "b"])))
        second = asyncio.run(in_one_batch(*(_submitter(name) for name in ["c", "explode"])))
    finally:
        group_commit.unregister_batch("test.kind")
    assert first[0] == "A" and isinstance(first[1], ValidationFailed) and first[2] == "B"
    assert second == ["C", "EXPLODE"]
    assert seen == [["a", "bad1", "b"], ["c", "explode"], ["c"], ["explode"]]
    with writer.unit_of_work(read_only=True) as session:
        # The refused item's record went with its savepoint, although it was deferred.
        assert list(session.scalars(select(AuditRecord.entity_id).order_by(AuditRecord.seq))) == [
            "a",
            "b",
            "c",
            "explode",
        ]
        assert audit.verify(session).ok


def _submitter(name: str) -> Factory:
    return lambda: group_commit.submit("test.kind", name)


def test_a_kind_without_a_handler_fails_loudly(writer: Database) -> None:
    with pytest.raises(KeyError, match="no batch handler"):
        asyncio.run(group_commit.submit("test.unknown", 1))


def test_with_group_commit_off_each_item_runs_alone_with_the_same_answers(
    writer: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUANXI_GROUP_COMMIT", "0")
    reset_settings()
    try:
        sessions: list[Session] = []
        outcomes = asyncio.run(
            _all(
                customer_maker("王芳", "13800138001", sessions),
                customer_maker("坏号码", "12", sessions),
                customer_maker("李娜", "13800138002", sessions),
                customer_maker("王芳二", "13800138001", sessions),
            )
        )
    finally:
        monkeypatch.delenv("GUANXI_GROUP_COMMIT")
        reset_settings()
    assert isinstance(outcomes[0], str) and isinstance(outcomes[2], str)
    assert isinstance(outcomes[1], ValidationFailed)
    assert isinstance(outcomes[3], DomainError) and outcomes[3].status == 409
    assert len({id(s) for s in sessions}) == 4  # a unit of work each
    assert counts(writer) == (2, ["customer.create", "customer.create"])


async def _all(*callers: Factory) -> list[Any]:
    results = []
    for caller in callers:  # one after another, as the batch runs them
        try:
            results.append(await caller())
        except Exception as exc:
            results.append(exc)
    return results


def test_the_writer_follows_the_process_database(writer: Database) -> None:
    other = Database(writer.url)
    engines: list[Any] = []

    def engine_of(session: Session) -> None:
        engines.append(session.connection().engine.pool is get_database().engine.pool)

    try:
        asyncio.run(group_commit.call(engine_of))
        set_database(other)
        asyncio.run(group_commit.call(engine_of))
    finally:
        group_commit.drain()
        set_database(writer)  # disposes `other`; the writer must not use it again
    asyncio.run(group_commit.call(engine_of))
    assert engines == [True, True, True]  # each time the database of the moment
    assert get_database() is writer


def test_an_error_caught_outside_a_savepoint_is_never_acknowledged(writer: Database) -> None:
    """PostgreSQL aborts the whole transaction on any error, and a COMMIT of it rolls back
    silently: the item that swallowed the error must not be told it was written, nor the others."""
    if writer.is_sqlite:
        pytest.skip("SQLite does not abort a transaction on a failed statement")

    def swallow(session: Session, payloads: Sequence[str]) -> list[object]:
        # The bug this guards against: an error swallowed, the transaction now unusable.
        with contextlib.suppress(DBAPIError):
            session.execute(text("SELECT 1 / 0"))
        return ["swallowed" for _ in payloads]

    group_commit.register_batch("test.swallow", swallow)
    try:
        outcomes = asyncio.run(
            in_one_batch(
                customer_maker("王芳", "13800138001", []),
                lambda: group_commit.submit("test.swallow", "x"),
                customer_maker("李娜", "13800138002", []),
            )
        )
    finally:
        group_commit.unregister_batch("test.swallow")
    assert isinstance(outcomes[0], str) and isinstance(outcomes[2], str)
    assert isinstance(outcomes[1], RuntimeError)
    assert counts(writer) == (2, ["customer.create", "customer.create"])
