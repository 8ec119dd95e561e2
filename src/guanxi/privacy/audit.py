"""Write and verify the audit trail.

Records hold who, when, what, which entity, the names of changed fields and the source IP, never
raw personal values. Each record's hash is an HMAC-SHA256, under the audit key (`kit.crypto`,
never the data key), of the previous record's hash and the record's content: without the key
nobody can rewrite a record and recompute the chain after it. Signed checkpoints
(`privacy.checkpoints`) pin the chain's length and head outside the database, so a wiped or
truncated table is found too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from guanxi.kit import clock, group_commit, i18n
from guanxi.kit.crypto import get_audit_key
from guanxi.kit.models import table_of
from guanxi.kit.principal import Principal
from guanxi.privacy.models import AuditChainHead, AuditRecord

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x6775616E7869  # "guanxi": serializes chain appends on PostgreSQL

# Detail keys that name a personal value (a search term, a contact, an identity, free text). A
# record names which of these were involved (`"filters": ["q"]`) or counts them, never holds
# their values; a caller that tries is a bug, refused here so the tests find it before a brand's
# trail holds one.
PERSONAL_DETAIL_KEYS = frozenset(
    {"q", "query", "search", "phone", "mobile", "email", "id_number", "address", "password", "openid", "unionid"}
)


def canonical(record: Any) -> bytes:
    """The bytes a record's hash covers: every column but the hashes, in a fixed JSON form."""
    content = {
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
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def compute_hash(prev_hash: str, record: Any, key: bytes | None = None) -> str:
    """The keyed hash of `record` after `prev_hash` (key: the configured audit key)."""
    key = get_audit_key() if key is None else key
    return hmac.new(key, prev_hash.encode() + canonical(record), hashlib.sha256).hexdigest()


def legacy_hash(prev_hash: str, record: Any) -> str:
    """The unkeyed SHA-256 of revisions before 0007; only the migration that re-keys chains uses it."""
    return hashlib.sha256(prev_hash.encode() + canonical(record)).hexdigest()


def _refuse_personal_keys(detail: Mapping[str, Any], path: str = "detail") -> None:
    for name, value in detail.items():
        # Text or a list under such a key is a value; a count or a flag (`{"email": 3}`) is not.
        if name in PERSONAL_DETAIL_KEYS and isinstance(value, str | list | tuple | Mapping):
            raise ValueError(f"audit {path}.{name} would store a personal value; record that it was used instead")
        if isinstance(value, Mapping):
            _refuse_personal_keys(value, f"{path}.{name}")


@dataclass(frozen=True)
class Draft:
    """A record to append: what `record` takes, with the moment it happened."""

    actor: Principal
    action: str
    entity_type: str | None = None
    entity_id: str | None = None
    fields: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    outcome: str = "ok"
    occurred_at: datetime = field(default_factory=clock.now)


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
) -> AuditRecord | None:
    """Append one record in the caller's transaction (see `record_many`): the record, or None
    when a group-commit batch appends it just before its commit."""
    draft = Draft(
        actor,
        action,
        entity_type=entity_type,
        entity_id=entity_id,
        fields=tuple(fields),
        detail=dict(detail or {}),  # a copy: a deferred record holds what was true when it was made
        outcome=outcome,
    )
    written = record_many(session, [draft])
    return written[0] if written else None


def record_many(session: Session, drafts: Sequence[Draft]) -> list[AuditRecord]:
    """Append `drafts` in order, as one segment of the chain: the same records (numbers, hashes)
    as calling `record` for each in turn, with the head read, locked and updated once.

    In a group-commit batch (`kit.group_commit`) the segment is written just before the batch
    commits, with everything else the batch records, so the chain's lock is held only for that
    segment and the commit; a draft of an item whose savepoint rolls back is dropped with it.
    Returns the records written now ([] when deferred), which are not in the session.
    """
    for draft in drafts:
        _refuse_personal_keys(draft.detail)
    if not drafts:
        return []
    pending = group_commit.deferred(session, "audit", _append_segment, last=True)
    if pending is not None:
        pending.extend(drafts)
        return []
    return _append_segment(session, drafts)


def _append_segment(session: Session, drafts: Sequence[Draft]) -> list[AuditRecord]:
    if session.get_bind().dialect.name == "postgresql":
        # Serialises chain appends across transactions (and processes) until this one ends.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    # Read after the lock, even if an earlier statement of this transaction loaded it.
    head = session.scalars(
        select(AuditChainHead).where(AuditChainHead.id == 1).execution_options(populate_existing=True)
    ).first()
    if head is None:
        head = AuditChainHead(id=1, last_seq=0, last_hash=GENESIS)
        session.add(head)
    key = get_audit_key()
    seq, prev_hash = head.last_seq, head.last_hash
    entries: list[AuditRecord] = []
    for draft in drafts:
        seq += 1
        entry = AuditRecord(
            seq=seq,
            occurred_at=draft.occurred_at,
            actor_id=draft.actor.id,
            actor_name=draft.actor.name,
            actor_role=draft.actor.role,
            actor_kind=draft.actor.kind,
            action=draft.action,
            outcome=draft.outcome,
            entity_type=draft.entity_type,
            entity_id=draft.entity_id,
            fields=sorted(set(draft.fields)),
            detail=dict(draft.detail),
            ip=draft.actor.ip,
            prev_hash=prev_hash,
        )
        entry.hash = prev_hash = compute_hash(prev_hash, entry, key)
        entries.append(entry)
    session.execute(insert(table_of(AuditRecord)), [_row(entry) for entry in entries])
    head.last_seq = seq
    head.last_hash = prev_hash
    session.flush()
    return entries


_COLUMNS = tuple(column.key for column in table_of(AuditRecord).columns)


def _row(entry: AuditRecord) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _COLUMNS}


@dataclass(frozen=True)
class Anchor:
    """A point the chain must pass through: record `seq` has hash `head_hash` (a signed checkpoint)."""

    seq: int
    head_hash: str
    created_at: datetime


@dataclass(frozen=True)
class VerifyResult:
    """The verdict; `problem` is a stable code, its text the catalog's `audit.problem.<code>`."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    # The last record walked and its hash, when the chain verified: what a checkpoint may vouch for.
    end: tuple[int, str] | None = field(default=None, compare=False)

    def describe(self, language: str = i18n.DEFAULT_LANGUAGE) -> str:
        if self.problem is None:
            return i18n.t("audit.verify.intact", language, checked=self.checked)
        return i18n.t(
            "audit.verify.broken",
            language,
            seq=self.first_bad_seq,
            reason=i18n.t(f"audit.problem.{self.problem}", language, **self.params),
            checked=self.checked,
        )

    @property
    def reason(self) -> str | None:
        """The problem in English (logs, tests)."""
        return None if self.problem is None else i18n.t(f"audit.problem.{self.problem}", "en", **self.params)


def _broken(checked: int, first_bad: int, problem: str, **params: Any) -> VerifyResult:
    return VerifyResult(False, checked, first_bad, problem, params)


def _when(anchor: Anchor) -> str:
    return clock.as_utc(anchor.created_at).strftime("%Y-%m-%d %H:%M:%S UTC")


def verify(
    session: Session,
    *,
    batch: int = 5000,
    anchors: Sequence[Anchor] = (),
    start: Anchor | None = None,
    key: bytes | None = None,
) -> VerifyResult:
    """Walk the chain in order; report the first record that was altered, inserted or removed.

    Each anchor must lie on the chain: a record at its sequence with its hash. One beyond the end
    means records were removed (however the head row was edited); one whose record differs means
    the records since the previous matching anchor were rewritten. `start` resumes a walk at an
    anchor already trusted (the checkpoint writer checks only what is new since the last one).
    """
    key = get_audit_key() if key is None else key
    if start is not None:
        resumed = session.get(AuditRecord, start.seq)
        if resumed is None:
            return _broken(0, start.seq, "removed_signed", seq=start.seq, at=_when(start))
        if resumed.hash != start.head_hash:
            return _broken(0, start.seq, "rewritten", first=1, seq=start.seq, at=_when(start))
    pending = sorted({(a.seq, a.head_hash, a.created_at): a for a in anchors}.values(), key=lambda a: a.seq)
    last_seen = start.seq if start else 0
    pending = [a for a in pending if a.seq > last_seen]
    prev_hash = start.head_hash if start else GENESIS
    matched = last_seen
    checked = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditRecord).where(AuditRecord.seq > last_seen).order_by(AuditRecord.seq).limit(batch)
            )
        )
        if not rows:
            break
        for row in rows:
            expected = last_seen + 1
            if row.seq != expected:
                return _broken(checked, expected, "missing", seq=expected)
            if row.prev_hash != prev_hash:
                return _broken(checked, row.seq, "link_broken")
            if compute_hash(prev_hash, row, key) != row.hash:
                return _broken(checked, row.seq, "content_altered")
            while pending and pending[0].seq == row.seq:
                anchor = pending.pop(0)
                if anchor.head_hash != row.hash:
                    return _broken(checked, matched + 1, "rewritten", first=matched + 1, seq=row.seq, at=_when(anchor))
                matched = row.seq
            prev_hash = row.hash
            checked += 1
            last_seen = row.seq
        session.expunge_all()
    if pending:
        anchor = pending[-1]
        return _broken(checked, last_seen + 1, "removed_signed", seq=anchor.seq, at=_when(anchor))
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.last_seq != last_seen or head.last_hash != prev_hash):
        return _broken(checked, last_seen + 1, "removed_at_end", last=last_seen)
    return VerifyResult(True, checked, end=(last_seen, prev_hash))


def history(session: Session, entity_type: str, entity_id: str, *, limit: int = 100) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.entity_type == entity_type, AuditRecord.entity_id == entity_id)
            .order_by(AuditRecord.seq.desc())
            .limit(limit)
        )
    )
