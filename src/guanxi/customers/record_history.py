"""A customer's change history and access history, read with the permissions each needs.

Changes are part of the customer record: whoever may read the customer may read them. Access
records (who viewed or revealed the customer) are the audit trail's own business: only roles
with `audit:read` see them. Customers named in a record's detail (the other side of a merge, a
dismissed duplicate) are given by name and member number as the reader may see them, never by
internal id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth.service import require
from guanxi.customers import identities as identity_store
from guanxi.customers import repository
from guanxi.customers.models import Customer
from guanxi.kit.errors import NotFound
from guanxi.kit.principal import Principal
from guanxi.privacy import access_history
from guanxi.privacy.models import AuditRecord

# Detail keys that hold another customer's id.
CUSTOMER_KEYS = frozenset({"merged_id", "survivor_id", "other_id", "event_customer", "holder_customer"})


@dataclass(frozen=True)
class CustomerRef:
    name: str | None  # as the reader may see it; None for a customer without a name
    member_no: str


@dataclass(frozen=True)
class HistoryEntry:
    action: str
    fields: list[str]
    actor: str
    occurred_at: datetime
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)
    customers: dict[str, CustomerRef] = field(default_factory=dict)  # id -> who, for CUSTOMER_KEYS values


def _customer(session: Session, actor: Principal, customer_id: str) -> Customer:
    require(actor, "customers", "read")
    customer = repository.customer_by_id(session, actor, customer_id)
    if customer is None:
        raise NotFound(
            message=f"customer {customer_id} not found", key="problem.not_found.customer", params={"id": customer_id}
        )
    return customer


def customers_named(session: Session, actor: Principal, customer_ids: Iterable[str]) -> dict[str, CustomerRef]:
    """Who these customers are, as `actor` may see them (the other side of a merge, of a duplicate).

    Merged customers are soft-deleted but still named: the record is about them. The caller has
    already read the record that names them, which is what entitles it to their member number."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    visibility = permissions.visibility(actor)
    rows = session.execute(select(Customer.id, Customer.name, Customer.member_no).where(Customer.id.in_(ids)))
    return {row.id: CustomerRef(identity_store.holder_name(row.name, visibility), row.member_no) for row in rows}


def _entries(session: Session, actor: Principal, records: list[AuditRecord]) -> list[HistoryEntry]:
    referenced = (str(v) for r in records for k, v in (r.detail or {}).items() if k in CUSTOMER_KEYS and v)
    names = customers_named(session, actor, referenced)
    entries = []
    for r in records:
        detail = dict(r.detail or {})
        refs = {str(v): names[str(v)] for k, v in detail.items() if k in CUSTOMER_KEYS and str(v) in names}
        entries.append(
            HistoryEntry(
                r.action, [str(f) for f in r.fields or []], r.actor_name, r.occurred_at, r.outcome, detail, refs
            )
        )
    return entries


def changes(session: Session, actor: Principal, customer_id: str) -> list[HistoryEntry]:
    """What was changed on the customer, by whom and when, newest first."""
    customer = _customer(session, actor, customer_id)
    return _entries(session, actor, access_history.changes(session, "customer", customer.id))


def accesses(session: Session, actor: Principal, customer_id: str) -> list[HistoryEntry]:
    """Who viewed or revealed the customer, newest first; for roles that read the audit trail."""
    require(actor, "audit", "read")
    customer = _customer(session, actor, customer_id)
    return _entries(session, actor, access_history.accesses(session, "customer", customer.id))


def may_read_accesses(actor: Principal) -> bool:
    return permissions.is_allowed(actor, "audit", "read")
