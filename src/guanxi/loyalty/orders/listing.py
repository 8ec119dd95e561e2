"""Orders as staff look them up: a filtered list, newest first, in numbered pages with the totals of
everything the filter matched, and one order's page (the order, its customer, the point entries it
moved).

Row scope follows the customer, as in `service.get_order`: every statement joins the order's
customer and applies the caller's scope to it (`customers.repository.scope_clause`), so an order is
listed to exactly those who may open it. A page costs two statements whatever its size: the totals
(one grouped aggregate, also the count) and the page's rows with their customers; names are masked
as the caller's role requires, by the customers' presenter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth.service import require
from guanxi.config import get_settings
from guanxi.customers import presenter
from guanxi.customers import repository as customer_rows
from guanxi.customers.models import Customer
from guanxi.customers.schemas import CustomerOut
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.orders.statuses import CANCELLED, STORED_STATUSES
from guanxi.loyalty.program.models import PointEntry
from guanxi.loyalty.program.schemas import EntryOut, OrderOut

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class OrderFilter:
    """What staff narrowed the list to; days are local days (the configured zone), both inclusive."""

    customer_id: str | None = None
    store: str | None = None
    channel: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None


@dataclass(frozen=True)
class OrderRow:
    id: str
    occurred_at: datetime
    customer_id: str
    customer_name: str  # as the caller may see it; the member number for a customer without a name
    member_no: str
    store: str | None
    channel: str | None
    status: str
    paid_amount: Decimal
    refunded_amount: Decimal
    currency: str
    points_earned: int


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    paid: Decimal
    refunded: Decimal


@dataclass(frozen=True)
class OrderTotals:
    """Everything the filter matched. A cancelled order is counted but adds no amount and no
    points: it counts nowhere as spend (docs/orders.md)."""

    count: int
    amounts: list[CurrencyTotal] = field(default_factory=list)
    points_earned: int = 0


@dataclass(frozen=True)
class OrderListing:
    rows: list[OrderRow]
    totals: OrderTotals
    page: int  # 1-based; a page past the last answers the last
    pages: int  # at least 1, also when nothing matched
    page_size: int


def _local_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant the local day begins."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def check_filter(flt: OrderFilter) -> None:
    errors: list[FieldError] = []
    if flt.status is not None and flt.status not in STORED_STATUSES:
        errors.append(
            FieldError(
                "status",
                f"unknown; one of {', '.join(STORED_STATUSES)}",
                "unknown_status",
                params={"allowed": ", ".join(STORED_STATUSES)},
                key="problem.unknown_one_of",
            )
        )
    if flt.date_from and flt.date_to and flt.date_from > flt.date_to:
        errors.append(FieldError("date_to", "is before the first day", "date_range"))
    if flt.amount_min is not None and flt.amount_max is not None and flt.amount_min > flt.amount_max:
        errors.append(FieldError("amount_max", "is below the lowest amount", "amount_range"))
    for name, amount in (("amount_min", flt.amount_min), ("amount_max", flt.amount_max)):
        if amount is not None and (not amount.is_finite() or amount < 0):
            errors.append(FieldError(name, "must be a positive amount", "invalid_amount"))
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def _conditions(actor: Principal, flt: OrderFilter) -> list[ColumnElement[bool]]:
    """The scope, then each filter; the customer filter and the time range use the orders'
    (customer_id, occurred_at) and (occurred_at) indexes."""
    conditions = [Customer.deleted_at.is_(None), customer_rows.scope_clause(actor, Customer)]
    if flt.customer_id is not None:
        conditions.append(Order.customer_id == flt.customer_id)
    zone = ZoneInfo(get_settings().timezone)
    if flt.date_from is not None:
        conditions.append(Order.occurred_at >= _local_start(flt.date_from, zone))
    if flt.date_to is not None:
        conditions.append(Order.occurred_at < _local_start(flt.date_to + timedelta(days=1), zone))
    if flt.store is not None:
        conditions.append(Order.store == flt.store)
    if flt.channel is not None:
        conditions.append(Order.channel == flt.channel)
    if flt.status is not None:
        conditions.append(Order.status == flt.status)
    if flt.amount_min is not None:
        conditions.append(Order.paid_amount >= flt.amount_min)
    if flt.amount_max is not None:
        conditions.append(Order.paid_amount <= flt.amount_max)
    return conditions


def _cents(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _totals(session: Session, conditions: list[ColumnElement[bool]]) -> OrderTotals:
    kept = Order.status != CANCELLED
    stmt = (
        select(
            Order.currency,
            func.count(),
            func.coalesce(func.sum(case((kept, Order.paid_amount), else_=0)), 0),
            func.coalesce(func.sum(Order.refunded_amount), 0),
            func.coalesce(func.sum(case((kept, Order.points_earned), else_=0)), 0),
        )
        .join(Customer, Customer.id == Order.customer_id)
        .where(*conditions)
        .group_by(Order.currency)
        .order_by(Order.currency)
    )
    count, points, amounts = 0, 0, []
    for currency, n, paid, refunded, earned in session.execute(stmt):
        count += int(n)
        points += int(earned)
        # SQLite sums NUMERIC as floating point: back to cents (PostgreSQL's sums are exact already).
        amounts.append(CurrencyTotal(currency, _cents(paid), _cents(refunded)))
    return OrderTotals(count=count, amounts=amounts, points_earned=points)


def list_orders(
    session: Session, actor: Principal, flt: OrderFilter, *, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE
) -> OrderListing:
    """One page of the orders the caller may see that match `flt`, newest first, with the totals."""
    require(actor, "orders", "read")
    require(actor, "customers", "read")
    check_filter(flt)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    conditions = _conditions(actor, flt)
    totals = _totals(session, conditions)
    pages = max(1, math.ceil(totals.count / page_size))
    page = max(1, min(page, pages))
    rows: list[OrderRow] = []
    if totals.count:
        stmt = (
            select(Order, Customer)
            .join(Customer, Customer.id == Order.customer_id)
            .where(*conditions)
            .order_by(Order.occurred_at.desc(), Order.id.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
        vis = permissions.visibility(actor)
        for order, customer in session.execute(stmt).tuples():
            shown = presenter.customer_out(customer, [], [], actor, visibility=vis)
            rows.append(
                OrderRow(
                    id=order.id,
                    occurred_at=order.occurred_at,
                    customer_id=customer.id,
                    customer_name=shown.display_name,
                    member_no=customer.member_no,
                    store=order.store,
                    channel=order.channel,
                    status=order.status,
                    paid_amount=order.paid_amount,
                    refunded_amount=order.refunded_amount,
                    currency=order.currency,
                    points_earned=order.points_earned,
                )
            )
    return OrderListing(rows=rows, totals=totals, page=page, pages=pages, page_size=page_size)


def filter_customer(session: Session, actor: Principal, customer_id: str) -> CustomerOut | None:
    """The customer a list is narrowed to, as the caller may see them; None if not theirs to see."""
    customer = customer_rows.customer_by_id(session, actor, customer_id)
    return None if customer is None else presenter.customer_out(customer, [], [], actor)


@dataclass(frozen=True)
class OrderPage:
    order: OrderOut
    customer: CustomerOut
    store: str | None
    channel: str | None
    external_id: str
    source: str
    # The point entries the order moved (its award, then refunds' and a cancellation's reversals);
    # empty for a caller who may not read loyalty statements.
    entries: list[EntryOut]


def order_page(session: Session, actor: Principal, order_id: str) -> OrderPage:
    """An order with its lines, refunds, customer and point entries (NotFound outside the scope)."""
    detail = orders.order_detail(session, actor, order_id)  # the permission and the scope
    order = session.get(Order, detail.id)  # loaded by order_detail: no second read
    customer = session.get(Customer, detail.customer_id)
    assert order is not None and customer is not None
    entries: list[EntryOut] = []
    if permissions.is_allowed(actor, "loyalty", "read"):
        found = session.scalars(select(PointEntry).where(PointEntry.order_id == order.id).order_by(PointEntry.id))
        entries = [EntryOut.model_validate(entry, from_attributes=True) for entry in found]
    return OrderPage(
        order=detail,
        customer=presenter.customer_out(customer, [], [], actor),
        store=order.store,
        channel=order.channel,
        external_id=order.external_id,
        source=order.source,
        entries=entries,
    )
