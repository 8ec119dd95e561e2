"""An entity's audit trail split in two: its changes, and who looked at it.

Reading a customer (a page view, the timeline, a reveal of full contact details) is audited as
much as changing them, but a reader of the change history wants the changes: views pushed real
edits out of sight. Access records are read separately, by those allowed to read the audit trail.
The split is made in SQL, so a hundred views never crowd out one change.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import Session

from guanxi.privacy.models import AuditRecord

# Actions that record a read, not a change. A new kind of view is named "<thing>.viewed" or
# "<thing>_viewed" and is classified by that suffix without being listed here.
ACCESS_ACTIONS = frozenset({"customer.reveal", "customer.viewed", "customer.timeline_viewed", "customer.export"})
ACCESS_SUFFIXES = ("viewed", ".reveal", ".revealed")
DEFAULT_LIMIT = 100


def is_access(action: str) -> bool:
    return action in ACCESS_ACTIONS or action.endswith(ACCESS_SUFFIXES)


def _access_clause() -> ColumnElement[bool]:
    action = AuditRecord.action
    return or_(action.in_(sorted(ACCESS_ACTIONS)), *(action.endswith(suffix) for suffix in ACCESS_SUFFIXES))


def _records(
    session: Session, entity_type: str, entity_id: str, clause: ColumnElement[bool], limit: int
) -> list[AuditRecord]:
    stmt = (
        select(AuditRecord)
        .where(and_(AuditRecord.entity_type == entity_type, AuditRecord.entity_id == entity_id, clause))
        .order_by(AuditRecord.seq.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def changes(session: Session, entity_type: str, entity_id: str, *, limit: int = DEFAULT_LIMIT) -> list[AuditRecord]:
    """The entity's newest records that are not reads, newest first."""
    return _records(session, entity_type, entity_id, not_(_access_clause()), limit)


def accesses(session: Session, entity_type: str, entity_id: str, *, limit: int = DEFAULT_LIMIT) -> list[AuditRecord]:
    """The entity's newest reads (views, reveals, exports naming it), newest first."""
    return _records(session, entity_type, entity_id, _access_clause(), limit)
