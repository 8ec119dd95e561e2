"""The identity cache of event ingestion never sends an event to the wrong customer: after an
identity is added, removed or moved, after a merge and its undo, after a deletion, the next event
lands where the database says. And the usual batch, written without looking for stored ids
first, answers duplicates exactly as the general path does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from guanxi.customers import events, identity_cache, identity_service, merge, service
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.models import CustomerIdentity
from guanxi.customers.schemas import IdentityIn
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import ValidationFailed
from guanxi.kit.principal import SYSTEM
from guanxi.privacy.models import AuditRecord
from tests.factories import create_customer

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BY_PHONE = [{"kind": "phone", "value": "13800138000"}]
BY_APP = [{"kind": "app_user_id", "value": "u-1", "namespace": "app"}]


@pytest.fixture(autouse=True)
def frozen_clock() -> Any:
    with clock.frozen(NOW) as frozen:
        yield frozen


_sent = 0


def ev(**fields: Any) -> dict[str, Any]:
    global _sent
    _sent += 1
    occurred = (NOW - timedelta(minutes=5)).isoformat()
    return {"event_id": f"c-{_sent}", "type": "page_view", "occurred_at": occurred, **fields}


def who(db: Database, **fields: Any) -> str | None:
    """The customer the next event naming these identities is stored under."""
    with db.unit_of_work() as session:
        result = events.ingest(session, SYSTEM, [ev(**fields)])
    assert result.results[0].status == "accepted"
    with db.unit_of_work(read_only=True) as session:
        stored = session.scalar(select(CustomerEvent.customer_id).where(CustomerEvent.event_id == f"c-{_sent}"))
    assert stored == result.results[0].customer_id
    return stored


def new_customer(db: Database, **fields: Any) -> str:
    with db.unit_of_work() as session:
        return create_customer(session, **fields).id


def test_a_moved_identity_takes_the_next_event_with_it(db: Database) -> None:
    zhang, li = new_customer(db, phone="13800138000"), new_customer(db, name="李娜")
    assert who(db, identities=BY_PHONE) == zhang  # now cached
    with db.unit_of_work() as session:
        phone = session.scalar(select(CustomerIdentity.id).where(CustomerIdentity.customer_id == zhang))
        assert phone is not None
        identity_service.remove_identity(session, SYSTEM, zhang, phone)
    with pytest.raises(ValidationFailed, match="no customer has this phone"):
        who(db, identities=BY_PHONE)
    with db.unit_of_work() as session:
        identity_service.add_identity(session, SYSTEM, li, IdentityIn(kind="phone", value="13800138000"))
    assert who(db, identities=BY_PHONE) == li


def test_merge_and_undo_send_the_next_event_to_the_right_customer(db: Database) -> None:
    survivor = new_customer(db, phone="13900139000")
    absorbed = new_customer(db, name="李娜", identities=BY_APP)
    assert who(db, identities=BY_APP) == absorbed
    with db.unit_of_work() as session:
        record = merge.merge_customers(session, SYSTEM, survivor_id=survivor, merged_id=absorbed, reason="manual")
        merge_id = record.id
    assert who(db, identities=BY_APP) == survivor
    assert who(db, customer_id=absorbed) == survivor  # named by the merged-away id: its survivor
    with db.unit_of_work() as session:
        merge.undo_merge(session, SYSTEM, merge_id)
    assert who(db, identities=BY_APP) == absorbed


def test_an_event_never_lands_on_a_customer_merged_away_behind_the_cache(db: Database) -> None:
    """As if another process merged: the cache still says the merged customer, the liveness read
    (never cached) sends the event to the survivor, through merges of merges."""
    first = new_customer(db, identities=BY_APP)
    second, third = new_customer(db, name="李娜"), new_customer(db, name="王芳")
    assert who(db, identities=BY_APP) == first
    from guanxi.customers.models import Customer

    with db.unit_of_work() as session:  # behind the services' backs: the cache is not told
        session.execute(update(Customer).where(Customer.id == first).values(merged_into_id=second, deleted_at=NOW))
        session.execute(update(Customer).where(Customer.id == second).values(merged_into_id=third, deleted_at=NOW))
    assert who(db, identities=BY_APP) == third


def test_a_deleted_customer_releases_its_identities_at_once(db: Database) -> None:
    zhang = new_customer(db, phone="13800138000")
    assert who(db, identities=BY_PHONE) == zhang
    with db.unit_of_work() as session:
        service.delete_customer(session, SYSTEM, zhang)
    li = new_customer(db, name="李娜", phone="13800138000")
    assert who(db, identities=BY_PHONE) == li


def test_a_change_in_another_process_is_seen_once_entries_are_old(db: Database) -> None:
    zhang, li = new_customer(db, identities=BY_APP), new_customer(db, name="李娜")
    saved = identity_cache.cache.max_age
    try:
        identity_cache.cache.max_age = 3600.0  # however slow this test runs, the entry is young
        assert who(db, identities=BY_APP) == zhang
        with db.unit_of_work() as session:  # another process moved the identity: this one was not told
            update_ = update(CustomerIdentity).where(CustomerIdentity.customer_id == zhang).values(customer_id=li)
            session.execute(update_)
        assert who(db, identities=BY_APP) == zhang  # while the entry is young: the bounded staleness
        identity_cache.cache.max_age = 0.0  # the entry has grown old
        assert who(db, identities=BY_APP) == li
    finally:
        identity_cache.cache.max_age = saved


def test_an_event_caused_merge_is_seen_by_the_next_batch(db: Database) -> None:
    union = [{"kind": "wechat_unionid", "value": "oUnion"}]
    wechat = new_customer(db, wechat_unionid="oUnion")
    app = new_customer(db, name="李娜", identities=BY_APP)
    assert who(db, identities=BY_APP) == app
    with db.unit_of_work() as session:
        result = events.ingest(session, SYSTEM, [ev(identities=union + BY_APP)])
    assert len(result.merges) == 1 and result.results[0].customer_id == wechat
    assert who(db, identities=BY_APP) == wechat


def test_a_rolled_back_change_leaves_nothing_behind_in_the_cache(db: Database) -> None:
    zhang, li = new_customer(db, identities=BY_APP), new_customer(db, name="李娜")
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        row = session.scalar(select(CustomerIdentity).where(CustomerIdentity.customer_id == zhang))
        assert row is not None
        identity_service.remove_identity(session, SYSTEM, zhang, row.id)
        identity_service.add_identity(session, SYSTEM, li, IdentityIn(kind="app_user_id", value="u-1", namespace="app"))
        events.ingest(session, SYSTEM, [ev(identities=BY_APP)])  # reads its own uncommitted move
        raise RuntimeError("rolled back")
    assert who(db, identities=BY_APP) == zhang


def _resend(db: Database, prefix: str, zhang: str) -> tuple[list[Any], dict[str, Any]]:
    """Two events stored, then a batch naming them again among new ones (one new id twice)."""
    occurred = (NOW - timedelta(minutes=5)).isoformat()

    def one(n: int, **fields: Any) -> dict[str, Any]:
        return {"event_id": f"{prefix}-{n}", "type": "page_view", "occurred_at": occurred, **fields}

    with db.unit_of_work() as session:
        events.ingest(session, SYSTEM, [one(1, identities=BY_PHONE), one(2, anonymous_id="dev-1")])
    batch = [
        one(1, identities=BY_PHONE),
        one(3, customer_id=zhang),
        one(2, anonymous_id="dev-1"),
        one(4, identities=[{"kind": "phone", "value": "13500135000"}], anonymous_id="dev-2"),
        one(3, customer_id=zhang),
    ]
    with db.unit_of_work() as session:
        result = events.ingest(session, SYSTEM, batch)
    answers = [(r.index, r.status, r.customer_id, r.errors, [w.code for w in r.warnings]) for r in result.results]
    with db.unit_of_work(read_only=True) as session:
        audit = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "events.ingested").order_by(AuditRecord.seq.desc())
        ).first()
        assert audit is not None
        detail = audit.detail
        rows = dict(
            session.execute(
                select(CustomerEvent.event_id, CustomerEvent.customer_id).where(
                    CustomerEvent.event_id.like(f"{prefix}-%")
                )
            ).all()
        )
    return answers, {"audit": detail, "rows": {k.removeprefix(prefix): v for k, v in rows.items()}}


def test_duplicates_are_answered_alike_on_both_paths(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain path (one insert; ids it skips are duplicates) answers, stores and audits a batch
    with stored and repeated ids exactly as the general path (stored ids looked up first)."""
    zhang = new_customer(db, phone="13800138000")
    plain = _resend(db, "p", zhang)
    monkeypatch.setattr(events, "_ingest_plain", lambda *args: None)
    general = _resend(db, "g", zhang)
    assert plain == general
    answers, written = plain
    assert [a[1] for a in answers] == ["duplicate", "accepted", "duplicate", "accepted", "duplicate"]
    assert (
        answers[0][2] is None
        and answers[1][2] == zhang
        and answers[3] == (3, "accepted", None, [], ["unknown_identity"])
    )
    assert written["audit"]["accepted"] == 2 and written["audit"]["duplicates"] == 3
    assert written["rows"] == {"-1": zhang, "-2": None, "-3": zhang, "-4": None}
