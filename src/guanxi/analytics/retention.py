"""The retention worklist: customers the churn warning picked out, worked by their owners.

Each analytics run calls `refresh` in the unit of work that writes its scores back:

- an open item (open or contacted) whose customer bought after the day it entered is `won_back`
  (outcome on the day of that purchase); one open for more than `lost_after_days` without a
  purchase is `lost` (outcome on the run's date);
- a customer whose churn band is "high", or whose churn risk reaches `threshold`, and who has no
  open item enters the list (owner = the customer's owner), with an outbox event
  `analytics.churn_warning` for each new item.

A purchase is read from the run's own scores (the day of the last purchase is `as_of -
recency_days`), so the refresh reads no orders. Staff see the items of the customers in their
row scope (a salesperson: their own customers), mark them contacted with a note, and the summary
compares how often contacted and uncontacted customers came back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, ClassVar, cast

import pandas as pd
from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

from guanxi.analytics.models import RetentionItem
from guanxi.auth.service import require
from guanxi.customers import repository
from guanxi.customers.models import Customer
from guanxi.kit import clock, outbox
from guanxi.kit.errors import Conflict, NotFound
from guanxi.kit.ids import new_id
from guanxi.kit.models import table_of
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

TOPIC = "analytics.churn_warning"
THRESHOLD = 60.0  # churn risk (0-100) from which a customer enters the list
LOST_AFTER_DAYS = 60
OPEN = ("open", "contacted")
STATUSES = ("open", "contacted", "won_back", "lost")
CHUNK = 1000


class RetentionClosed(Conflict):
    code: ClassVar[str] = "retention_item_closed"
    title: ClassVar[str] = "The retention item is closed"


@dataclass
class RefreshReport:
    entered: int = 0
    won_back: int = 0
    lost: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"entered": self.entered, "won_back": self.won_back, "lost": self.lost}


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _last_purchase(record: dict[str, Any], as_of: date) -> date | None:
    days = _number(record.get("recency_days"))
    return None if days is None else as_of - timedelta(days=int(days))


# A customer long gone (churned) or who never bought (prospect) is no retention call: win-back
# campaigns reach them (the churned segment), the worklist keeps who can still be kept.
NOT_ON_THE_LIST = frozenset({"churned", "prospect"})


def _warned(record: dict[str, Any], threshold: float) -> bool:
    if record.get("lifecycle_stage") in NOT_ON_THE_LIST:
        return False
    risk = _number(record.get("churn_risk"))
    return record.get("churn_band") == "high" or (risk is not None and risk >= threshold)


def _owners(session: Session, customer_ids: list[str]) -> dict[str, str | None]:
    """The owner of each customer still on file (not deleted)."""
    found: dict[str, str | None] = {}
    for start in range(0, len(customer_ids), CHUNK):
        chunk = customer_ids[start : start + CHUNK]
        rows = session.execute(
            select(Customer.id, Customer.owner_id).where(Customer.id.in_(chunk), Customer.deleted_at.is_(None))
        )
        found.update({str(cid): owner for cid, owner in rows})
    return found


def refresh(
    session: Session,
    scores: pd.DataFrame,
    *,
    as_of: date,
    run_id: str,
    threshold: float = THRESHOLD,
    lost_after_days: int = LOST_AFTER_DAYS,
) -> RefreshReport:
    """Close the items the customers' behaviour decided, open the new warnings (flush only)."""
    report = RefreshReport()
    records = {str(r["customer_id"]): r for r in scores.to_dict("records")}
    open_items = list(session.scalars(select(RetentionItem).where(RetentionItem.status.in_(OPEN))))
    still_open: set[str] = set()
    for item in open_items:
        record = records.get(item.customer_id)
        bought = _last_purchase(record, as_of) if record is not None else None
        if bought is not None and bought > item.entered_on:
            item.status, item.outcome_on = "won_back", bought
            report.won_back += 1
        elif (as_of - item.entered_on).days > lost_after_days:
            item.status, item.outcome_on = "lost", as_of
            report.lost += 1
        else:
            still_open.add(item.customer_id)
    candidates = sorted(c for c, r in records.items() if c not in still_open and _warned(r, threshold))
    owners = _owners(session, candidates)
    events: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    now = clock.now()
    for customer_id in candidates:
        if customer_id not in owners:
            continue
        record = records[customer_id]
        risk = _number(record.get("churn_risk"))
        row = {
            "id": new_id(),
            "customer_id": customer_id,
            "owner_id": owners[customer_id],
            "entered_on": as_of,
            "risk": risk if risk is not None else threshold,
            "reasons": list(record.get("churn_reasons") or []),
            "status": "open",
            "created_at": now,
            "updated_at": now,
        }
        rows.append(row)
        events.append(
            {
                "item_id": row["id"],
                "customer_id": customer_id,
                "owner_id": row["owner_id"],
                "risk": row["risk"],
                "as_of": as_of.isoformat(),
                "run_id": run_id,
            }
        )
    session.flush()  # the items closed above, before the new ones
    # Core inserts: the first run of a large brand opens items by the hundred thousand
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(table_of(RetentionItem)), rows[start : start + CHUNK])
    report.entered = len(events)
    outbox.emit_many(session, TOPIC, events)
    return report


# -- reading and working the list --------------------------------------------------------------


def _scoped(actor: Principal) -> Select[RetentionItem, Customer]:
    """Items of the customers in the caller's row scope, with the customer."""
    visible = repository.customers(actor).subquery()
    return (
        select(RetentionItem, Customer)
        .join(visible, visible.c.id == RetentionItem.customer_id)
        .join(Customer, Customer.id == RetentionItem.customer_id)
    )


def list_items(
    session: Session,
    actor: Principal,
    request: PageRequest,
    *,
    status: str | None = None,
    owner_id: str | None = None,
) -> Page[tuple[RetentionItem, Customer]]:
    require(actor, "analytics", "read")
    stmt = _scoped(actor)
    if status is not None:
        stmt = stmt.where(RetentionItem.status == status)
    if owner_id is not None:
        stmt = stmt.where(RetentionItem.owner_id == owner_id)
    paged, _ = paginate(
        cast("Select[Any]", stmt),
        request,
        {"created_at": RetentionItem.created_at, "risk": RetentionItem.risk},
        RetentionItem.id,
    )
    rows: list[tuple[RetentionItem, Customer]] = [(row[0], row[1]) for row in session.execute(paged)]
    return make_page(rows, request, lambda row: (getattr(row[0], request.sort), row[0].id))


def get_item(session: Session, actor: Principal, item_id: str) -> tuple[RetentionItem, Customer]:
    found = session.execute(_scoped(actor).where(RetentionItem.id == item_id)).tuples().one_or_none()
    if found is None:
        raise NotFound(
            message=f"retention item {item_id} not found",
            key="problem.not_found.retention_item",
            params={"id": item_id},
        )
    return found[0], found[1]


def mark_contacted(
    session: Session, actor: Principal, item_id: str, note: str | None
) -> tuple[RetentionItem, Customer]:
    """The owner (or anyone who may write notes on the customer) called: the item is contacted."""
    require(actor, "analytics", "read")
    require(actor, "notes", "create")
    item, customer = get_item(session, actor, item_id)
    if item.status not in OPEN:
        raise RetentionClosed(
            message=f"this retention item is closed ({item.status}): nothing to mark",
            key="problem.analytics.retention_closed",
            params={"status": item.status},
        )
    item.status = "contacted"
    item.contacted_at = clock.now()
    item.contacted_by = actor.id
    if note:
        item.note = note
    session.flush()
    audit.record(
        session,
        actor,
        "analytics.retention.contacted",
        entity_type="retention_item",
        entity_id=item.id,
        fields=["status", "contacted_at", *(["note"] if note else [])],
        detail={"customer_id": item.customer_id},
    )
    return item, customer


@dataclass(frozen=True)
class Summary:
    entered: int
    open: int
    contacted: int
    won_back: int
    lost: int
    won_back_contacted: int
    won_back_not_contacted: int
    closed_contacted: int
    closed_not_contacted: int

    @property
    def win_back_rate_contacted(self) -> float | None:
        return _rate(self.won_back_contacted, self.closed_contacted)

    @property
    def win_back_rate_not_contacted(self) -> float | None:
        return _rate(self.won_back_not_contacted, self.closed_not_contacted)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summary(session: Session, actor: Principal, *, since: date | None = None) -> Summary:
    """The effect of the worklist within the caller's scope: items entered (since a day), where
    they stand, and the win-back rate of the closed items that were contacted vs not contacted."""
    require(actor, "analytics", "read")
    visible = repository.customers(actor).with_only_columns(Customer.id)
    stmt = (
        select(RetentionItem.status, RetentionItem.contacted_at.is_not(None), func.count())
        .where(RetentionItem.customer_id.in_(visible))
        .group_by(RetentionItem.status, RetentionItem.contacted_at.is_not(None))
    )
    if since is not None:
        stmt = stmt.where(RetentionItem.entered_on >= since)
    counts: dict[tuple[str, bool], int] = {(str(s), bool(c)): int(n) for s, c, n in session.execute(stmt)}

    def total(statuses: Iterable[str], contacted: bool | None = None) -> int:
        return sum(n for (s, c), n in counts.items() if s in statuses and (contacted is None or c == contacted))

    return Summary(
        entered=total(STATUSES),
        open=total(("open",)),
        contacted=total(STATUSES, True),
        won_back=total(("won_back",)),
        lost=total(("lost",)),
        won_back_contacted=total(("won_back",), True),
        won_back_not_contacted=total(("won_back",), False),
        closed_contacted=total(("won_back", "lost"), True),
        closed_not_contacted=total(("won_back", "lost"), False),
    )
