"""Write and verify the audit trail.

Records hold who, when, what, which entity, the names of changed fields and the source IP, never
raw personal values. Each record's hash covers its content and the previous record's hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from guanxi.kit import clock
from guanxi.kit.principal import Principal
from guanxi.privacy.models import AuditChainHead, AuditRecord

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x6775616E7869  # "guanxi": serializes chain appends on PostgreSQL


def _content(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "occurred_at": clock.as_utc(record.occurred_at).isoformat(),
        "actor_id": record.actor_id,
        "actor_name": record.actor_name,
        "actor_role": record.actor_role,
        "actor_kind": record.actor_kind,
        "action": record.action,
        "outcome": record.outcome,
        "entity_type": record.entity_type,
        "entity_id": record.entity_id,
        "fields": list(record.fields or []),
        "detail": record.detail or {},
        "ip": record.ip,
    }


def compute_hash(prev_hash: str, record: AuditRecord) -> str:
    canonical = json.dumps(_content(record), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def record(
    session: Session,
    actor: Principal,
    action: str,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    fields: Iterable[str] = (),
    detail: dict[str, Any] | None = None,
    outcome: str = "ok",
) -> AuditRecord:
    """Append one record in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    head = session.get(AuditChainHead, 1)
    if head is None:
        head = AuditChainHead(id=1, last_seq=0, last_hash=GENESIS)
        session.add(head)
    entry = AuditRecord(
        seq=head.last_seq + 1,
        occurred_at=clock.now(),
        actor_id=actor.id,
        actor_name=actor.name,
        actor_role=actor.role,
        actor_kind=actor.kind,
        action=action,
        outcome=outcome,
        entity_type=entity_type,
        entity_id=entity_id,
        fields=sorted(set(fields)),
        detail=detail or {},
        ip=actor.ip,
        prev_hash=head.last_hash,
    )
    entry.hash = compute_hash(head.last_hash, entry)
    session.add(entry)
    head.last_seq = entry.seq
    head.last_hash = entry.hash
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the chain in order; report the first record that was altered, inserted or removed."""
    expected_seq = 1
    prev_hash = GENESIS
    checked = 0
    last_seen = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditRecord).where(AuditRecord.seq > last_seen).order_by(AuditRecord.seq).limit(batch)
            )
        )
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq, f"record {expected_seq} is missing")
            if row.prev_hash != prev_hash:
                return VerifyResult(False, checked, row.seq, "link to the previous record is broken")
            if compute_hash(prev_hash, row) != row.hash:
                return VerifyResult(False, checked, row.seq, "record content does not match its hash")
            prev_hash = row.hash
            expected_seq += 1
            checked += 1
            last_seen = row.seq
        session.expunge_all()
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.last_seq != checked or head.last_hash != prev_hash):
        return VerifyResult(False, checked, checked + 1, f"records after {checked} were removed")
    return VerifyResult(True, checked)


def history(session: Session, entity_type: str, entity_id: str, *, limit: int = 100) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.entity_type == entity_type, AuditRecord.entity_id == entity_id)
            .order_by(AuditRecord.seq.desc())
            .limit(limit)
        )
    )
