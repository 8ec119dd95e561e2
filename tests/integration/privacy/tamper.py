"""Tampering with the audit tables the way someone with DDL rights on the database would.

The tables refuse UPDATE and DELETE through triggers (migration 0007), so an attacker first drops
or disables the triggers. The tamper tests do the same, and the test harness empties the tables
between tests the same way: nothing in the application can switch the triggers off.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, select, text

from guanxi.config import get_settings, reset_settings
from guanxi.kit.db import Database
from guanxi.privacy import checkpoints
from guanxi.privacy.models import AuditRecord

AUDIT_TABLES = ("audit_records", "audit_chain_head")


@contextmanager
def triggers_dropped(conn: Connection) -> Iterator[None]:
    """Inside: the audit tables accept any change. After: the same triggers are back."""
    if conn.dialect.name == "postgresql":
        for table in AUDIT_TABLES:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield
        for table in AUDIT_TABLES:
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        return
    saved = conn.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (:a, :b)"),
        {"a": AUDIT_TABLES[0], "b": AUDIT_TABLES[1]},
    ).all()
    for name, _ in saved:
        conn.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _, sql in saved:
        conn.execute(text(sql))


def _forget_checkpoints() -> None:
    """Checkpoints vouch for the tables being emptied: a stale one would make the next test's
    fresh chain look truncated. Only ever inside the test home."""
    settings = get_settings()
    directory = checkpoints.checkpoint_dir(settings)
    if directory.resolve().is_relative_to(settings.resolved_home):
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def cleanup_allowed(conn: Connection) -> Iterator[None]:
    """For the harness that empties every table after a test, in the same transaction.

    PostgreSQL: `session_replication_role = replica` for this transaction only (superuser, as the
    test database's user is) skips the triggers without the exclusive table lock that disabling
    them takes, so a test's leftover reader cannot make the cleanup wait. SQLite: drop and recreate.
    """
    _forget_checkpoints()
    if not conn.execute(text("SELECT 1 FROM audit_chain_head UNION ALL SELECT 1 FROM audit_records LIMIT 1")).first():
        yield
        return
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield
        return
    with triggers_dropped(conn):
        yield


def rewrite_and_rechain(db: Database, seq: int, hasher: Callable[[str, Any], str], **changes: str) -> None:
    """Edit record `seq` (`changes`: column -> new text value), then recompute every hash from it on
    with `hasher` and move the head to match: a re-chain, as thorough as the tamperer's key allows."""
    with db.unit_of_work(read_only=True) as session:
        rows = list(session.scalars(select(AuditRecord).where(AuditRecord.seq >= seq).order_by(AuditRecord.seq)))
        session.expunge_all()
    for name, value in changes.items():
        setattr(rows[0], name, value)
    prev = rows[0].prev_hash
    with db.engine.begin() as conn, triggers_dropped(conn):
        for row in rows:
            row.prev_hash, row.hash = prev, hasher(prev, row)
            assignments = ", ".join(f"{name} = :{name}" for name in ("prev_hash", "hash", *changes))
            values = {name: getattr(row, name) for name in ("prev_hash", "hash", *changes)}
            conn.execute(text(f"UPDATE audit_records SET {assignments} WHERE seq = :seq"), {**values, "seq": row.seq})
            prev = row.hash
        conn.execute(text("UPDATE audit_chain_head SET last_hash = :h"), {"h": prev})


@contextmanager
def settings_env(**values: str) -> Iterator[None]:
    """GUANXI_* variables set for a test (checkpoint directory, language), then unset again."""
    names = [f"GUANXI_{name.upper()}" for name in values]
    for name, value in zip(names, values.values(), strict=True):
        os.environ[name] = value
    reset_settings()
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)
        reset_settings()
