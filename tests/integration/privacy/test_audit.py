"""The audit trail is a keyed hash chain in tables that refuse changes.

The database refuses UPDATE and DELETE of a record; someone who drops the triggers first (DDL
rights) still cannot edit, remove or re-chain a record without verify() naming it, because the
hashes are keyed with the audit key.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from guanxi.kit.crypto import get_audit_key
from guanxi.kit.db import Database
from guanxi.kit.principal import Principal
from guanxi.privacy import audit
from guanxi.privacy.models import AuditChainHead, AuditRecord
from tests.integration.privacy.tamper import rewrite_and_rechain, triggers_dropped

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


def snapshot(db: Database) -> tuple[list[tuple[object, ...]], tuple[object, ...] | None]:
    with db.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text("SELECT * FROM audit_records ORDER BY seq"))]
        head = conn.execute(text("SELECT id, last_seq, last_hash FROM audit_chain_head")).first()
    return rows, None if head is None else tuple(head)


def tamper(db: Database, *statements: str, **params: object) -> None:
    with db.engine.begin() as conn, triggers_dropped(conn):
        for statement in statements:
            conn.execute(text(statement), params)


def test_records_link_into_a_keyed_chain(db: Database) -> None:
    write_records(db, 4)
    with db.unit_of_work(read_only=True) as session:
        rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        head = session.get(AuditChainHead, 1)
        assert [r.seq for r in rows] == [1, 2, 3, 4]
        assert rows[0].prev_hash == audit.GENESIS
        for prev, row in itertools.pairwise(rows):
            assert row.prev_hash == prev.hash
        for row in rows:
            keyed = hmac.new(get_audit_key(), row.prev_hash.encode() + audit.canonical(row), hashlib.sha256)
            assert row.hash == keyed.hexdigest()
            assert row.hash != audit.legacy_hash(row.prev_hash, row)
            assert row.hash != audit.compute_hash(row.prev_hash, row, b"another key".ljust(32, b"\0"))
        assert rows[0].fields == ["city", "name"]
        assert rows[0].actor_name == "alice"
        assert rows[0].ip == "10.0.0.1"
        assert rows[2].detail == {"n": 2, "source": "测试"}
        assert head is not None
        assert (head.last_seq, head.last_hash) == (4, rows[-1].hash)
        newest = rows[-1].hash
    result = verify(db)
    assert result == audit.VerifyResult(True, 4)
    assert result.end == (4, newest)


def test_the_audit_key_is_not_the_data_key(db: Database) -> None:
    from guanxi.config import get_settings
    from guanxi.kit.crypto import load_master_key

    assert get_audit_key() != load_master_key(get_settings())
    assert len(get_audit_key()) == 32


def test_empty_chain_verifies(db: Database) -> None:
    assert verify(db) == audit.VerifyResult(True, 0)


def test_record_rolled_back_with_its_transaction(db: Database) -> None:
    write_records(db, 1)
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        audit.record(session, ACTOR, "customer.delete")
        raise RuntimeError("abort")
    write_records(db, 1)
    with db.unit_of_work(read_only=True) as session:
        assert list(session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq))) == [1, 2]
    assert verify(db).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET actor_name = 'mallory' WHERE seq = 2",
        "UPDATE audit_records SET hash = prev_hash",
        "DELETE FROM audit_records WHERE seq = 3",
        "DELETE FROM audit_records",
        "DELETE FROM audit_chain_head",
        "UPDATE audit_chain_head SET last_seq = 2",
        "UPDATE audit_chain_head SET last_hash = 'x'",
    ],
)
def test_the_database_refuses_changes_to_the_trail(db: Database, statement: str) -> None:
    write_records(db, 3)
    before = snapshot(db)
    refused = r"append-only|cannot be deleted|only moves forward"
    with pytest.raises(DBAPIError, match=refused), db.engine.begin() as conn:
        conn.execute(text(statement))
    assert snapshot(db) == before
    assert verify(db) == audit.VerifyResult(True, 3)


def test_postgres_refuses_truncate(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("TRUNCATE is a PostgreSQL statement")
    write_records(db, 2)
    before = snapshot(db)
    for table in ("audit_records", "audit_chain_head"):
        with pytest.raises(DBAPIError, match="append-only: TRUNCATE refused"), db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table} CASCADE"))
    assert snapshot(db) == before


def test_appending_still_works_under_the_triggers(db: Database) -> None:
    write_records(db, 2)
    with db.unit_of_work() as session:  # two records in one transaction move the head twice
        audit.record(session, ACTOR, "a")
        audit.record(session, ACTOR, "b")
    assert verify(db) == audit.VerifyResult(True, 4)


def test_edited_record_is_named_by_seq(db: Database) -> None:
    write_records(db, 5)
    tamper(db, "UPDATE audit_records SET actor_name = 'mallory' WHERE seq = 3")
    result = verify(db)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 3, 2)
    assert result.problem == "content_altered"
    assert result.reason == "record content does not match its hash"


def test_edited_detail_is_found(db: Database) -> None:
    write_records(db, 3)
    tamper(db, "UPDATE audit_records SET detail = :d WHERE seq = 2", d='{"n": 99}')
    result = verify(db)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 2, "content_altered")


@pytest.mark.parametrize(
    "hasher",
    [
        pytest.param(audit.legacy_hash, id="plain-sha256"),
        pytest.param(lambda prev, row: audit.compute_hash(prev, row, b"g" * 32), id="a-guessed-key"),
    ],
)
def test_rechain_after_an_edit_without_the_key_is_named(db: Database, hasher: Callable[[str, Any], str]) -> None:
    write_records(db, 5)
    rewrite_and_rechain(db, 2, hasher, action="customer.view")
    result = verify(db)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 2, 1)
    assert result.problem == "content_altered"


def test_rehashed_record_alone_breaks_the_next_link(db: Database) -> None:
    write_records(db, 4)
    with db.unit_of_work(read_only=True) as session:
        row = session.get(AuditRecord, 2)
        assert row is not None
        session.expunge(row)
    row.action = "customer.view"
    tamper(
        db,
        "UPDATE audit_records SET action = 'customer.view', hash = :h WHERE seq = 2",
        h=audit.compute_hash(row.prev_hash, row),
    )
    result = verify(db)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 3, "link_broken")
    assert result.reason == "link to the previous record is broken"


def test_deleted_middle_record_is_named(db: Database) -> None:
    write_records(db, 5)
    tamper(db, "DELETE FROM audit_records WHERE seq = 3")
    result = verify(db)
    assert (result.ok, result.first_bad_seq, result.problem) == (False, 3, "missing")
    assert result.reason == "record 3 is missing"


def test_deleted_last_record_is_found_through_the_head(db: Database) -> None:
    write_records(db, 5)
    tamper(db, "DELETE FROM audit_records WHERE seq = 5")
    result = verify(db)
    assert (result.ok, result.checked, result.first_bad_seq) == (False, 4, 5)
    assert result.reason == "records after 4 were removed"
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 4


def test_verify_walks_in_batches(db: Database) -> None:
    write_records(db, 7)
    with db.unit_of_work(read_only=True) as session:
        assert audit.verify(session, batch=2) == audit.VerifyResult(True, 7)
    tamper(db, "DELETE FROM audit_records WHERE seq = 6")
    with db.unit_of_work(read_only=True) as session:
        result = audit.verify(session, batch=2)
    assert (result.ok, result.first_bad_seq) == (False, 6)


def test_messages_are_translated(db: Database) -> None:
    write_records(db, 3)
    assert verify(db).describe("zh-CN") == "审计链完整：3 条记录"
    tamper(db, "DELETE FROM audit_records WHERE seq = 2")
    result = verify(db)
    assert result.describe("en") == "audit chain BROKEN at record 2: record 2 is missing (1 records verified before it)"
    assert result.describe("zh-CN") == "审计链在第 2 条记录处被破坏：第 2 条记录缺失（此前已核验 1 条记录）"


@pytest.mark.parametrize(
    "detail",
    [{"q": "13712349999"}, {"filter": {"phone": "13712349999"}}, {"email": "a@b.cn"}, {"search": "张伟"}],
)
def test_a_personal_value_is_refused_before_it_is_written(db: Database, detail: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="personal value"), db.unit_of_work() as session:
        audit.record(session, ACTOR, "customer.export", detail=detail)
    assert snapshot(db) == ([], None)


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


def test_counts_and_flags_under_such_keys_are_not_values(db: Database) -> None:
    with db.unit_of_work() as session:
        audit.record(session, ACTOR, "demo.load", detail={"identities": {"phone": 3, "email": 2}, "q": None})
    assert verify(db) == audit.VerifyResult(True, 1)
    with db.unit_of_work(read_only=True) as session:
        record = session.get(AuditRecord, 1)
        assert record is not None
        assert record.detail == {"identities": {"phone": 3, "email": 2}, "q": None}
