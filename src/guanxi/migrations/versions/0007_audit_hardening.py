"""audit trail hardening: keyed chain, append-only triggers

A chain written before this revision used plain SHA-256. The upgrade re-keys it: it walks the
chain from the start and, for as long as every record still verifies under the old hashes,
rewrites its hashes as HMAC-SHA256 under the audit key, so an intact trail stays intact. It stops
at the first record that does not verify: that record and the ones after it keep their old hashes,
so a trail that was already broken is still reported broken at the same record, never laundered.
The downgrade does the reverse. Then triggers make the database refuse UPDATE and DELETE of audit
records (and TRUNCATE on PostgreSQL), and any change of the head row but a forward move.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import guanxi.kit.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
BATCH = 5000

records = sa.table(
    "audit_records",
    sa.column("seq", sa.Integer()),
    sa.column("occurred_at", guanxi.kit.models.UTCDateTime()),
    sa.column("actor_id", sa.String()),
    sa.column("actor_name", sa.String()),
    sa.column("actor_role", sa.String()),
    sa.column("actor_kind", sa.String()),
    sa.column("action", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("entity_type", sa.String()),
    sa.column("entity_id", sa.String()),
    sa.column("fields", sa.JSON()),
    sa.column("detail", sa.JSON()),
    sa.column("ip", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
head = sa.table("audit_chain_head", sa.column("id", sa.Integer()), sa.column("last_seq"), sa.column("last_hash"))

SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only: DELETE refused'); END""",
    """CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    BEGIN SELECT RAISE(ABORT, 'the audit chain head cannot be deleted'); END""",
    """CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head
    WHEN NEW.id IS NOT OLD.id OR NEW.last_seq <= OLD.last_seq
    BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END""",
)
SQLITE_TRIGGER_NAMES = (
    "audit_records_no_update",
    "audit_records_no_delete",
    "audit_chain_head_no_delete",
    "audit_chain_head_forward_only",
)

POSTGRES_SETUP = (
    """CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit records are append-only: % refused on %', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.id IS DISTINCT FROM OLD.id OR NEW.last_seq <= OLD.last_seq THEN
            RAISE EXCEPTION 'the audit chain head only moves forward' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()""",
)
POSTGRES_TEARDOWN = (
    "DROP TRIGGER IF EXISTS audit_records_append_only ON audit_records",
    "DROP TRIGGER IF EXISTS audit_records_no_truncate ON audit_records",
    "DROP TRIGGER IF EXISTS audit_chain_head_no_delete ON audit_chain_head",
    "DROP TRIGGER IF EXISTS audit_chain_head_no_truncate ON audit_chain_head",
    "DROP TRIGGER IF EXISTS audit_chain_head_forward_only ON audit_chain_head",
    "DROP FUNCTION IF EXISTS audit_refuse_change()",
    "DROP FUNCTION IF EXISTS audit_head_forward_only()",
)


def _rehash(old: Callable[[str, Any], str], new: Callable[[str, Any], str]) -> None:
    """Rewrite the hashes of the prefix of the chain that verifies under `old` with `new`."""
    conn = op.get_bind()
    old_prev, new_prev, last_seq = GENESIS, GENESIS, 0
    while True:
        rows = conn.execute(sa.select(records).where(records.c.seq > last_seq).order_by(records.c.seq).limit(BATCH))
        updates = []
        intact = True
        for row in rows.all():
            if row.seq != last_seq + 1 or row.prev_hash != old_prev or old(old_prev, row) != row.hash:
                intact = False
                break
            new_hash = new(new_prev, row)
            updates.append({"b_seq": row.seq, "b_prev": new_prev, "b_hash": new_hash})
            old_prev, new_prev, last_seq = row.hash, new_hash, row.seq
        if updates:
            conn.execute(
                records.update()
                .where(records.c.seq == sa.bindparam("b_seq"))
                .values(prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash")),
                updates,
            )
        if not updates or not intact:
            break
    if last_seq:  # the head moves with the chain only when it pointed at the re-keyed end
        conn.execute(
            head.update()
            .where(head.c.id == 1, head.c.last_seq == last_seq, head.c.last_hash == old_prev)
            .values(last_hash=new_prev)
        )


def _has_records() -> bool:
    return op.get_bind().execute(sa.select(records.c.seq).limit(1)).first() is not None


def upgrade() -> None:
    if _has_records():
        from guanxi.kit.crypto import get_audit_key
        from guanxi.privacy.audit import compute_hash, legacy_hash

        key = get_audit_key()
        _rehash(legacy_hash, lambda prev, row: compute_hash(prev, row, key))
    statements = POSTGRES_SETUP if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_TEARDOWN:
            op.execute(statement)
    else:
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if _has_records():
        from guanxi.kit.crypto import get_audit_key
        from guanxi.privacy.audit import compute_hash, legacy_hash

        key = get_audit_key()
        _rehash(lambda prev, row: compute_hash(prev, row, key), legacy_hash)
