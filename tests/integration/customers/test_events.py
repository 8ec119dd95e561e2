"""Event ingestion: validation, idempotency, identity resolution, stitching, conflicts, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from guanxi.customers import event_types, events
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.merge_models import CustomerMerge
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.privacy.models import AuditRecord
from tests.factories import create_customer, staff_principal

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock() -> Any:
    with clock.frozen(NOW) as frozen:
        yield frozen


def ev(event_id: str, type_: str = "page_view", minutes_ago: int = 10, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": type_,
        "occurred_at": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        **fields,
    }


def ingest(db: Database, batch: list[Any], actor: Principal = SYSTEM, **kwargs: Any) -> events.IngestResult:
    with db.unit_of_work() as session:
        return events.ingest(session, actor, batch, **kwargs)


def stored(db: Database) -> dict[str, str | None]:
    with db.unit_of_work(read_only=True) as session:
        return dict(session.execute(select(CustomerEvent.event_id, CustomerEvent.customer_id)).tuples().all())


def identities_of(db: Database, customer_id: str) -> list[tuple[str, str]]:
    with db.unit_of_work(read_only=True) as session:
        rows = session.execute(
            select(CustomerIdentity.kind, CustomerIdentity.namespace).where(CustomerIdentity.customer_id == customer_id)
        )
        return sorted(rows.tuples().all())


def new_customer(db: Database, **fields: Any) -> str:
    with db.unit_of_work() as session:
        return create_customer(session, **fields).id


def test_batch_is_stored_with_each_event_attributed(db: Database) -> None:
    zhang = new_customer(db, phone="13800138000", wechat_unionid="oUnion_Z")
    li = new_customer(db, name="李娜")
    batch = [
        ev("e1", identities=[{"kind": "phone", "value": "138 0013 8000"}], properties={"url": "/home"}),
        ev("e2", "product_view", customer_id=li, properties={"sku": "A1", "category": "母婴", "price": 99.5}),
        ev("e3", "search", identities=[{"kind": "wechat_unionid", "value": "oUnion_Z"}], properties={"query": "奶粉"}),
    ]
    result = ingest(db, batch)
    assert [(r.event_id, r.status, r.customer_id) for r in result.results] == [
        ("e1", "accepted", zhang),
        ("e2", "accepted", li),
        ("e3", "accepted", zhang),
    ]
    assert stored(db) == {"e1": zhang, "e2": li, "e3": zhang}
    with db.unit_of_work(read_only=True) as session:
        row = session.scalars(select(CustomerEvent).where(CustomerEvent.event_id == "e2")).one()
        assert row.properties == {"sku": "A1", "category": "母婴", "price": 99.5}
        assert row.occurred_at == NOW - timedelta(minutes=10)
        assert row.received_at == NOW
        outbox = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == events.EVENTS_RECORDED)).one()
        assert outbox.payload == {"customer_ids": sorted([zhang, li]), "types": ["page_view", "product_view", "search"]}
        audit = session.scalars(select(AuditRecord).where(AuditRecord.action == "events.ingested")).one()
        assert audit.detail["accepted"] == 3 and audit.detail["customers"] == 2


def test_a_repeated_event_id_is_a_duplicate_and_changes_nothing(db: Database) -> None:
    zhang = new_customer(db, phone="13800138000")
    first = ingest(db, [ev("e1", customer_id=zhang), ev("e2", customer_id=zhang)])
    assert first.count("accepted") == 2
    again = ingest(db, [ev("e1", customer_id=zhang), ev("e3", customer_id=zhang), ev("e3", customer_id=zhang)])
    assert [r.status for r in again.results] == ["duplicate", "accepted", "duplicate"]
    assert stored(db) == {"e1": zhang, "e2": zhang, "e3": zhang}


def test_strict_batch_with_bad_events_is_refused_whole(db: Database) -> None:
    zhang = new_customer(db)
    batch = [
        ev("ok", customer_id=zhang),
        ev("t", "teleport", customer_id=zhang),
        ev("p", "product_view", customer_id=zhang, properties={"sku": 5}),
        ev("u", "product_view", customer_id=zhang, properties={"sku": "A", "colour": "red"}),
        ev("r", "product_view", customer_id=zhang, properties={"price": 1.0}),
        ev("f", customer_id=zhang, minutes_ago=-60),
        {"event_id": "n", "type": "page_view", "occurred_at": "2026-11-20T10:00:00", "customer_id": zhang},
        ev("i", identities=[{"kind": "phone", "value": "12345"}]),
        ev("s"),
        "not an object",
        ev("bad id!", customer_id=zhang),
    ]
    with pytest.raises(ValidationFailed) as caught:
        ingest(db, batch)
    assert sorted((e.field, e.code) for e in caught.value.errors) == sorted(
        [
            ("events[1].type", "unknown_type"),
            ("events[2].properties.sku", "wrong_type"),
            ("events[3].properties.colour", "unknown_property"),
            ("events[4].properties.sku", "required"),
            ("events[5].occurred_at", "future_timestamp"),
            ("events[6].occurred_at", "naive_datetime"),
            ("events[7].identities[0].value", "invalid_phone"),
            ("events[8]", "no_subject"),
            ("events[9]", "type_error"),
            ("events[10].event_id", "string_pattern_mismatch"),
        ]
    )
    assert stored(db) == {}


def test_partial_mode_stores_the_good_events_and_reports_the_bad(db: Database) -> None:
    zhang = new_customer(db)
    result = ingest(db, [ev("ok", customer_id=zhang), ev("bad", "teleport", customer_id=zhang)], partial=True)
    assert [(r.status, [e.code for e in r.errors]) for r in result.results] == [
        ("accepted", []),
        ("rejected", ["unknown_type"]),
    ]
    assert stored(db) == {"ok": zhang}


@pytest.mark.parametrize("size", [0, 1001])
def test_batch_size_is_bounded(db: Database, size: int) -> None:
    zhang = new_customer(db)
    with pytest.raises(ValidationFailed) as caught:
        ingest(db, [ev(f"e{i}", customer_id=zhang) for i in range(size)])
    assert [(e.field, e.code) for e in caught.value.errors] == [("events", "batch_size")]
    assert stored(db) == {}


def test_unknown_people_are_refused_unless_anonymous(db: Database) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ingest(db, [ev("e1", identities=[{"kind": "app_user_id", "value": "u-404"}])])
    assert [(e.field, e.code) for e in caught.value.errors] == [("events[0].identities", "unknown_identity")]
    with pytest.raises(ValidationFailed) as caught:
        ingest(db, [ev("e2", customer_id="01HZZZZZZZZZZZZZZZZZZZZZZZ")])
    assert [(e.field, e.code) for e in caught.value.errors] == [("events[0].customer_id", "unknown_customer")]
    result = ingest(db, [ev("e3", identities=[{"kind": "app_user_id", "value": "u-404"}], anonymous_id="dev-1")])
    assert result.results[0].status == "accepted" and result.results[0].customer_id is None
    assert [w.code for w in result.results[0].warnings] == ["unknown_identity"]
    assert stored(db) == {"e3": None}


def test_anonymous_history_is_stitched_when_the_visitor_logs_in(db: Database) -> None:
    zhang = new_customer(db, identities=[{"kind": "app_user_id", "value": "u-1"}])
    ingest(
        db,
        [
            ev("a1", anonymous_id="dev-9", minutes_ago=30),
            ev("a2", "search", anonymous_id="dev-9", properties={"query": "x"}),
        ],
    )
    assert stored(db) == {"a1": None, "a2": None}
    login = ingest(db, [ev("l1", "login", identities=[{"kind": "app_user_id", "value": "u-1"}], anonymous_id="dev-9")])
    assert login.linked == 1 and login.stitched == 2
    assert stored(db) == {"a1": zhang, "a2": zhang, "l1": zhang}
    assert ("anonymous_id", "") in identities_of(db, zhang)
    later = ingest(db, [ev("a3", anonymous_id="dev-9")])
    assert later.results[0].customer_id == zhang


def test_openids_of_other_apps_join_the_unionid(db: Database) -> None:
    zhang = new_customer(db, wechat_unionid="oUnion_Z")
    result = ingest(
        db,
        [
            ev(
                "m1",
                "app_open",
                identities=[
                    {"kind": "wechat_unionid", "value": "oUnion_Z"},
                    {"kind": "wechat_openid", "value": "oOpen_mini", "namespace": "wx-mini"},
                ],
            )
        ],
    )
    assert result.results[0].customer_id == zhang and result.linked == 1
    assert identities_of(db, zhang) == [("wechat_openid", "wx-mini"), ("wechat_unionid", "")]


def test_an_identity_of_another_customer_is_never_moved(db: Database) -> None:
    zhang = new_customer(db, identities=[{"kind": "app_user_id", "value": "u-1"}])
    li = new_customer(db, name="李娜", identities=[{"kind": "app_user_id", "value": "u-2"}])
    ingest(db, [ev("l1", "login", identities=[{"kind": "app_user_id", "value": "u-1"}], anonymous_id="family-ipad")])
    result = ingest(
        db, [ev("l2", "login", identities=[{"kind": "app_user_id", "value": "u-2"}], anonymous_id="family-ipad")]
    )
    item = result.results[0]
    assert item.customer_id == li
    assert [(w.field, w.code) for w in item.warnings] == [("events[0].anonymous_id", "identity_conflict")]
    assert ("anonymous_id", "") in identities_of(db, zhang)
    assert ("anonymous_id", "") not in identities_of(db, li)
    with db.unit_of_work(read_only=True) as session:
        conflict = session.scalars(select(AuditRecord).where(AuditRecord.action == "identity.conflict")).one()
        assert conflict.entity_id == li and conflict.detail["held_by"] == zhang


def test_a_second_unionid_and_unverified_contacts_are_not_linked(db: Database) -> None:
    zhang = new_customer(db, wechat_unionid="oUnion_Z")
    result = ingest(
        db,
        [
            ev(
                "e1",
                customer_id=zhang,
                identities=[
                    {"kind": "wechat_unionid", "value": "oUnion_OTHER"},
                    {"kind": "phone", "value": "13900139000"},
                    {"kind": "email", "value": "z@example.com", "verified": True},
                ],
            )
        ],
    )
    assert sorted(w.code for w in result.results[0].warnings) == ["identity_conflict", "not_linked"]
    assert identities_of(db, zhang) == [("email", ""), ("wechat_unionid", "")]


def test_ingesting_needs_the_events_permission(db: Database) -> None:
    zhang = new_customer(db)
    analyst = staff_principal(db, username="ana", role="analyst")
    with pytest.raises(PermissionDenied):
        ingest(db, [ev("e1", customer_id=zhang)], actor=analyst)
    assert stored(db) == {}


def test_custom_event_types_are_validated_and_enforced(db: Database) -> None:
    zhang = new_customer(db)
    with db.unit_of_work() as session:
        with pytest.raises(ValidationFailed) as caught:
            event_types.create_type(
                session,
                SYSTEM,
                {"code": "Bad", "label_zh": "坏", "label_en": "Bad", "properties": {"x": "text"}, "required": ["y"]},
            )
        assert sorted((e.field, e.code) for e in caught.value.errors) == [
            ("code", "invalid_code"),
            ("properties.x", "invalid_type"),
            ("required[0]", "unknown_property"),
        ]
    with db.unit_of_work() as session:
        spec = event_types.create_type(
            session,
            SYSTEM,
            {
                "code": "live_stream_watch",
                "label_zh": "观看直播",
                "label_en": "Live stream watch",
                "properties": {"room": "string", "seconds": "integer"},
                "required": ["room"],
            },
        )
        assert spec.properties == {"room": "string", "seconds": "integer"}
    result = ingest(db, [ev("w1", "live_stream_watch", customer_id=zhang, properties={"room": "r1", "seconds": 30})])
    assert result.count("accepted") == 1
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
        event_types.update_type(session, SYSTEM, "live_stream_watch", {"properties": {"room": "integer"}})
    assert [(e.field, e.code) for e in caught.value.errors] == [
        ("properties.room", "frozen"),
        ("properties.seconds", "frozen"),
    ]
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
        event_types.update_type(session, SYSTEM, "page_view", {"properties": {"url": "string", "x": "string"}})
    assert [e.code for e in caught.value.errors] == ["builtin"]
    with db.unit_of_work() as session, pytest.raises(NotFound):
        event_types.get_type(session, SYSTEM, "nope")


def test_retention_purges_only_old_events_of_that_type(db: Database) -> None:
    zhang = new_customer(db)
    ingest(
        db,
        [
            ev("old_view", customer_id=zhang, minutes_ago=60 * 24 * 40),
            ev("new_view", customer_id=zhang, minutes_ago=60 * 24 * 10),
            ev("old_login", "login", customer_id=zhang, minutes_ago=60 * 24 * 40),
        ],
    )
    with db.unit_of_work() as session:
        event_types.update_type(session, SYSTEM, "page_view", {"retention_days": 30})
        with pytest.raises(ValidationFailed):
            event_types.update_type(session, SYSTEM, "login", {"retention_days": 0})
    with db.unit_of_work() as session:
        assert event_types.purge_expired(session, SYSTEM) == {"page_view": 1}
    assert set(stored(db)) == {"new_view", "old_login"}
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(CustomerEvent)) == 2
        spec = event_types.get_type(session, SYSTEM, "page_view")
        assert spec.retention_days == 30 and spec.builtin


def test_a_unionid_ties_a_mini_program_user_to_the_wechat_customer_and_merges_them(db: Database) -> None:
    zhang = new_customer(db, wechat_unionid="oUnion_Z", city="上海市")
    mini = new_customer(
        db, name="张伟", identities=[{"kind": "wechat_openid", "value": "oMini_1", "namespace": "wx-mini"}]
    )
    ingest(db, [ev("before", customer_id=mini, minutes_ago=60)])
    result = ingest(
        db,
        [
            ev(
                "tie",
                "login",
                identities=[
                    {"kind": "wechat_openid", "value": "oMini_1", "namespace": "wx-mini"},
                    {"kind": "wechat_unionid", "value": "oUnion_Z"},
                ],
            )
        ],
    )
    assert len(result.merges) == 1 and result.results[0].customer_id == zhang
    assert stored(db) == {"before": zhang, "tie": zhang}
    assert identities_of(db, zhang) == [("wechat_openid", "wx-mini"), ("wechat_unionid", "")]
    with db.unit_of_work(read_only=True) as session:
        merge = session.get(CustomerMerge, result.merges[0])
        assert merge is not None
        assert (merge.survivor_id, merge.merged_id, merge.reason) == (zhang, mini, "unionid")
        assert merge.evidence == {"event_id": "tie", "identity": "wechat_openid"}
        absorbed = session.get(Customer, mini)
        assert absorbed is not None and absorbed.merged_into_id == zhang
    # Later events naming the absorbed customer land on the survivor.
    later = ingest(db, [ev("after", customer_id=mini)])
    assert later.results[0].customer_id == zhang


def test_customers_with_their_own_unionids_are_never_merged(db: Database) -> None:
    zhang = new_customer(db, wechat_unionid="oUnion_Z")
    other = new_customer(
        db,
        name="张伟",
        wechat_unionid="oUnion_OTHER",
        identities=[{"kind": "wechat_openid", "value": "oMini_2", "namespace": "wx-mini"}],
    )
    result = ingest(
        db,
        [
            ev(
                "tie",
                identities=[
                    {"kind": "wechat_unionid", "value": "oUnion_Z"},
                    {"kind": "wechat_openid", "value": "oMini_2", "namespace": "wx-mini"},
                ],
            )
        ],
    )
    assert result.merges == []
    assert [w.code for w in result.results[0].warnings] == ["identity_conflict"]
    assert identities_of(db, other) == [("wechat_openid", "wx-mini"), ("wechat_unionid", "")]
    assert stored(db) == {"tie": zhang}


def test_a_verified_phone_merges_an_app_account_into_the_member(db: Database) -> None:
    member = new_customer(db, identities=[{"kind": "phone", "value": "13800138000", "verified": True}])
    app_user = new_customer(db, name="张伟", identities=[{"kind": "app_user_id", "value": "u-77"}])
    result = ingest(
        db,
        [
            ev(
                "bind",
                "phone_bound",
                identities=[
                    {"kind": "app_user_id", "value": "u-77"},
                    {"kind": "phone", "value": "13800138000", "verified": True},
                ],
            )
        ],
    )
    assert len(result.merges) == 1 and result.results[0].customer_id == member
    with db.unit_of_work(read_only=True) as session:
        absorbed = session.get(Customer, app_user)
        assert absorbed is not None and absorbed.merged_into_id == member


def test_an_unverified_phone_is_a_conflict_not_a_merge(db: Database) -> None:
    member = new_customer(db, identities=[{"kind": "phone", "value": "13800138000", "verified": True}])
    app_user = new_customer(db, name="张伟", identities=[{"kind": "app_user_id", "value": "u-77"}])
    result = ingest(
        db,
        [
            ev(
                "typed",
                identities=[{"kind": "app_user_id", "value": "u-77"}, {"kind": "phone", "value": "13800138000"}],
            )
        ],
    )
    assert result.merges == [] and result.results[0].customer_id == app_user
    assert [w.code for w in result.results[0].warnings] == ["identity_conflict"]
    with db.unit_of_work(read_only=True) as session:
        assert session.get(Customer, app_user).merged_into_id is None  # type: ignore[union-attr]
        assert session.get(Customer, member).merged_into_id is None  # type: ignore[union-attr]


def test_an_id_stored_by_a_concurrent_request_is_a_duplicate_not_an_error(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    zhang = new_customer(db)
    ingest(db, [ev("e1", customer_id=zhang)])
    # As if another request committed e1 after this one looked for stored ids.
    monkeypatch.setattr(events, "_drop_duplicates", lambda session, parsed, results: list(parsed))
    result = ingest(db, [ev("e1", customer_id=zhang), ev("e2", customer_id=zhang)])
    assert [(r.event_id, r.status) for r in result.results] == [("e1", "duplicate"), ("e2", "accepted")]
    assert stored(db) == {"e1": zhang, "e2": zhang}
    with db.unit_of_work(read_only=True) as session:
        latest = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "events.ingested").order_by(AuditRecord.seq.desc())
        ).first()
        assert latest is not None and (latest.detail["accepted"], latest.detail["duplicates"]) == (1, 1)


def test_text_with_a_nul_character_is_refused_per_event(db: Database) -> None:
    zhang = new_customer(db)
    result = ingest(
        db,
        [ev("ok", customer_id=zhang), ev("nul", customer_id=zhang, channel="a\x00b", properties={"url": "/\x00"})],
        partial=True,
    )
    assert [r.status for r in result.results] == ["accepted", "rejected"]
    assert sorted(e.field for e in result.results[1].errors) == ["events[1].channel", "events[1].properties"]
    assert stored(db) == {"ok": zhang}
