"""Migration 0007 re-keys a chain written with plain SHA-256, so a brand upgrading keeps an intact
trail; a trail already broken stays broken at the same record; the downgrade gives back SHA-256."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from guanxi.kit.db import Database
from guanxi.migrations import runner
from guanxi.privacy import audit
from guanxi.privacy.models import AuditChainHead, AuditRecord
from tests.integration.migrations.test_migrations import throwaway_engine  # noqa: F401  (fixture)


def _legacy_chain(engine: Engine, count: int) -> list[str]:
    """Records as revision 0006 wrote them: SHA-256 without a key. Returns their hashes."""
    prev, hashes = audit.GENESIS, []
    with Session(engine) as session, session.begin():
        for seq in range(1, count + 1):
            row = AuditRecord(
                seq=seq,
                occurred_at=datetime(2026, 11, 1, 8, seq, tzinfo=UTC),
                actor_id="u1",
                actor_name="alice",
                actor_role="admin",
                actor_kind="staff",
                action="customer.update",
                outcome="ok",
                entity_type="customer",
                entity_id=f"c{seq}",
                fields=["city"],
                detail={"n": seq, "来源": "导入"},
                ip="10.0.0.1",
                prev_hash=prev,
            )
            row.hash = audit.legacy_hash(prev, row)
            session.add(row)
            session.flush()
            prev = row.hash
            hashes.append(prev)
        session.add(AuditChainHead(id=1, last_seq=count, last_hash=prev))
    return hashes


def _verify(engine: Engine) -> audit.VerifyResult:
    with Session(engine) as session:
        return audit.verify(session)


def _legacy_verify(engine: Engine) -> bool:
    """The verification of revision 0006, for the downgrade."""
    prev = audit.GENESIS
    with Session(engine) as session:
        for row in session.query(AuditRecord).order_by(AuditRecord.seq):
            if row.prev_hash != prev or audit.legacy_hash(prev, row) != row.hash:
                return False
            prev = row.hash
        head = session.get(AuditChainHead, 1)
        return head is None or head.last_hash == prev


def test_an_intact_sha256_chain_is_re_keyed(throwaway_engine: Engine) -> None:  # noqa: F811
    runner.upgrade(throwaway_engine, "0006")
    old = _legacy_chain(throwaway_engine, 7)
    assert _verify(throwaway_engine).problem == "content_altered"  # the keyed verify refuses SHA-256 hashes
    runner.upgrade(throwaway_engine, "0007")
    result = _verify(throwaway_engine)
    assert result == audit.VerifyResult(True, 7)
    assert result.end is not None
    with throwaway_engine.connect() as conn:
        new = [r[0] for r in conn.execute(text("SELECT hash FROM audit_records ORDER BY seq"))]
        head = conn.execute(text("SELECT last_seq, last_hash FROM audit_chain_head")).one()
    assert set(new).isdisjoint(old)
    assert tuple(head) == (7, new[-1]) == result.end
    with pytest.raises(DBAPIError, match="append-only"), throwaway_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE seq = 7"))

    runner.downgrade(throwaway_engine, "0006")
    assert _legacy_verify(throwaway_engine)
    with throwaway_engine.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT hash FROM audit_records ORDER BY seq"))] == old
    with throwaway_engine.begin() as conn:  # no triggers any more
        conn.execute(text("UPDATE audit_records SET ip = NULL WHERE seq = 1"))


@pytest.mark.parametrize(
    ("tampering", "expected"),
    [
        ("UPDATE audit_records SET actor_name = 'mallory' WHERE seq = 4", (4, 3, "link_broken")),
        ("DELETE FROM audit_records WHERE seq = 2", (2, 1, "missing")),
    ],
)
def test_a_broken_sha256_chain_stays_broken_at_the_same_record(
    throwaway_engine: Engine,  # noqa: F811
    tampering: str,
    expected: tuple[int, int, str],
) -> None:
    runner.upgrade(throwaway_engine, "0006")
    _legacy_chain(throwaway_engine, 6)
    with throwaway_engine.begin() as conn:
        conn.execute(text(tampering))
    runner.upgrade(throwaway_engine, "0007")
    result = _verify(throwaway_engine)
    assert (result.ok, result.first_bad_seq, result.checked, result.problem) == (False, *expected)


def test_the_test_database_carries_the_triggers(db: Database) -> None:
    with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            names = conn.execute(
                text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE 'audit_%'")
            )
        else:
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        found = sorted(r[0] for r in names)
    expected = {
        "postgresql": [
            "audit_chain_head_forward_only",
            "audit_chain_head_no_delete",
            "audit_chain_head_no_truncate",
            "audit_records_append_only",
            "audit_records_no_truncate",
        ],
        "sqlite": [
            "audit_chain_head_forward_only",
            "audit_chain_head_no_delete",
            "audit_records_no_delete",
            "audit_records_no_update",
        ],
    }[db.dialect]
    assert [n for n in found if n.startswith("audit_")] == expected
