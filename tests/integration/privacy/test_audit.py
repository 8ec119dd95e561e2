"""The audit trail is a hash chain: any edit, removal or truncation is found by verify()."""

from __future__ import annotations

import itertools

from sqlalchemy import func, select, text

from guanxi.kit.db import Database
from guanxi.kit.principal import Principal
from guanxi.privacy import audit
from guanxi.privacy.models import AuditChainHead, AuditRecord

ACTOR = Principal(id="u1", name="alice", role="admin", ip="10.0.0.1")


def write_records(db: Database, count: int) -> None:
    for i in range(count):
        with db.unit_of_work() as session:
            audit.record(
                session,
                ACTOR,
                "customer.update",
                entity_type="customer",
                entity_id=f"c{i}",
                fields=["city", "name", "city"],
                detail={"n": i, "source": "测试"},
            )


def verify(db: Database) -> audit.VerifyResult:
    with db.unit_of_work(read_only=True) as session:
        return audit.verify(session)


def test_records_link_into_a_chain(db: Database) -> None:
    write_records(db, 4)
    with db.unit_of_work(read_only=True) as session:
        rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        head = session.get(AuditChainHead, 1)
        assert [r.seq for r in rows] == [1, 2, 3, 4]
        assert rows[0].prev_hash == audit.GENESIS
        for prev, row in itertools.pairwise(rows):
            assert row.prev_hash == prev.hash
        for row in rows:
            assert audit.compute_hash(row.prev_hash, row) == row.hash
        assert rows[0].fields == ["city", "name"]
        assert rows[0].actor_name == "alice"
        assert rows[0].ip == "10.0.0.1"
        assert rows[2].detail == {"n": 2, "source": "测试"}
        assert head is not None
        assert (head.last_seq, head.last_hash) == (4, rows[-1].hash)
    assert verify(db) == audit.VerifyResult(True, 4)


def test_empty_chain_verifies(db: Database) -> None:
    assert verify(db) == audit.VerifyResult(True, 0)


def test_record_rolled_back_with_its_transaction(db: Database) -> None:
    write_records(db, 1)
    try:
        with db.unit_of_work() as session:
            audit.record(session, ACTOR, "customer.delete")
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    write_records(db, 1)
    with db.unit_of_work(read_only=True) as session:
        assert list(session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq))) == [1, 2]
    assert verify(db).ok


def test_altered_field_is_named_by_seq(db: Database) -> None:
    write_records(db, 5)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET actor_name = 'mallory' WHERE seq = 3"))
    result = verify(db)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.checked == 2
    assert result.reason == "record content does not match its hash"


def test_altered_detail_is_found(db: Database) -> None:
    write_records(db, 3)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET detail = '{\"n\": 99}' WHERE seq = 2"))
    result = verify(db)
    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_rehashed_record_breaks_the_next_link(db: Database) -> None:
    write_records(db, 4)
    with db.unit_of_work() as session:
        row = session.get(AuditRecord, 2)
        assert row is not None
        row.action = "customer.view"
        session.flush()
        new_hash = audit.compute_hash(row.prev_hash, row)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET hash = :h WHERE seq = 2"), {"h": new_hash})
    result = verify(db)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.reason == "link to the previous record is broken"


def test_deleted_middle_record_is_named(db: Database) -> None:
    write_records(db, 5)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE seq = 3"))
    result = verify(db)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert result.reason == "record 3 is missing"


def test_deleted_last_record_is_found_through_the_head(db: Database) -> None:
    write_records(db, 5)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE seq = 5"))
    result = verify(db)
    assert not result.ok
    assert result.checked == 4
    assert result.first_bad_seq == 5
    assert result.reason == "records after 4 were removed"
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 4


def test_verify_walks_in_batches(db: Database) -> None:
    write_records(db, 7)
    with db.unit_of_work(read_only=True) as session:
        assert audit.verify(session, batch=2) == audit.VerifyResult(True, 7)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE seq = 6"))
    with db.unit_of_work(read_only=True) as session:
        result = audit.verify(session, batch=2)
    assert (result.ok, result.first_bad_seq) == (False, 6)


def test_history_lists_an_entity_newest_first(db: Database) -> None:
    with db.unit_of_work() as session:
        audit.record(session, ACTOR, "customer.create", entity_type="customer", entity_id="c1")
        audit.record(session, ACTOR, "customer.create", entity_type="customer", entity_id="c2")
        audit.record(session, ACTOR, "customer.update", entity_type="customer", entity_id="c1", fields=["city"])
    with db.unit_of_work(read_only=True) as session:
        rows = audit.history(session, "customer", "c1")
        assert [(r.seq, r.action, r.fields) for r in rows] == [
            (3, "customer.update", ["city"]),
            (1, "customer.create", []),
        ]
