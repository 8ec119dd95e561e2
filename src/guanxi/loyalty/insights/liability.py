"""What the program owes: outstanding points by the month they expire and their cash value, debts,
expected breakage from history, the expected cost, and points issued, redeemed, expired and
reversed per month over the last year.

Every figure comes from a handful of set-based queries (GROUP BY over lots, movements and entries),
never from a loop over lots, so the report costs a few scans whatever the ledger's size. Nothing
here writes.

Expiry months are local (the program's time zone) and name the last day the points can be spent:
a lot that expires at the end of 31 March belongs to March, although its stored instant is
00:00 on 1 April.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from guanxi.auth.service import require
from guanxi.kit import clock
from guanxi.kit.errors import field_error
from guanxi.kit.principal import Principal
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.models import LotMovement, LoyaltyAccount, PointEntry, PointLot
from guanxi.loyalty.rules import expiry

# Under this many points moved (used + expired) in the window, one member's habits would decide the
# rate: use the default instead and say so.
MIN_HISTORY_POINTS: Final = 1000
# The prudent default: no breakage, every outstanding point assumed redeemed (IFRS 15 recognizes
# breakage only once history makes it reliable).
DEFAULT_BREAKAGE: Final = Decimal(0)
HISTORY_MONTHS: Final = 12
RATE_STEP: Final = Decimal("0.0001")
CENT: Final = Decimal("0.01")
OPEN: Final = ("available", "pending")


class ExpiryBucket(BaseModel):
    month: str | None  # "2027-03" (local); None: the points never expire
    available_points: int
    pending_points: int
    points: int
    value: Decimal  # points x point value
    expected_cost: Decimal  # value x (1 - breakage); never-expiring points cannot break


class Breakage(BaseModel):
    rate: Decimal  # expired / (used + expired), 0..1, four places
    source: Literal["history", "default"]
    used_points: int
    expired_points: int
    moved_points: int
    window_start: datetime
    window_end: datetime
    min_points: int
    note: str | None


class MonthFlow(BaseModel):
    month: str  # "2026-11" (local)
    issued: int  # earned and added by adjustment
    redeemed: int
    expired: int
    reversed: int  # taken back by refunds


class LiabilityReport(BaseModel):
    as_of: datetime
    currency: str
    timezone: str
    point_value: Decimal
    available_points: int
    pending_points: int
    outstanding_points: int
    outstanding_value: Decimal
    # Still in open lots although their last day is over: the expiry job has not run yet.
    overdue_points: int
    by_expiry_month: list[ExpiryBucket]
    debt_points: int  # points members owe (negative balances), as a positive number
    debt_accounts: int
    debt_value: Decimal
    breakage: Breakage
    expected_cost: Decimal
    history: list[MonthFlow]


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def month_key(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def month_starts(last: date, count: int, tz: str) -> list[tuple[str, datetime]]:
    """The `count` local months ending with the month of `last`, oldest first, each with the UTC
    instant it starts; plus the start of the month after, so every month has an end."""
    zone = ZoneInfo(tz)
    first = expiry.add_months(last.replace(day=1), -(count - 1))
    months = [expiry.add_months(first, i) for i in range(count + 1)]
    return [(month_key(m), datetime.combine(m, time(0), tzinfo=zone).astimezone(UTC)) for m in months]


def month_index(column: QueryableAttribute[datetime], bounds: Sequence[datetime]) -> ColumnElement[int]:
    """Which month an instant falls in, as an index into `bounds` (one CASE per row, no join).
    Months run from just after local midnight to midnight included: an instant at midnight closes
    the day that ended, as an expiry stamped at the end of 30 June belongs to June."""
    return case(*[(column <= end, i) for i, end in enumerate(bounds[1:])], else_=len(bounds) - 1)


def _as_of(value: datetime | None) -> datetime:
    now = clock.now()
    if value is None:
        return now
    if value.tzinfo is None or value.utcoffset() is None:
        raise field_error(
            "as_of", "needs a time zone offset, e.g. +08:00", "naive_datetime", key="problem.naive_offset"
        )
    if value > now:
        raise field_error("as_of", "is in the future: the ledger cannot report what has not happened", "future_date")
    return value.astimezone(UTC)


def expected_breakage(session: Session, as_of: datetime) -> Breakage:
    """The share of points that expired among the points that left lots by use or expiry in the 12
    months up to `as_of`. Reversals (refunds) are no one's choice and are left out; so are points
    moved to another member (transfers), which stay owed."""
    start = expiry.add_months(as_of.date(), -HISTORY_MONTHS)
    window_start = datetime.combine(start, as_of.timetz())
    used_kind = and_(LotMovement.kind.in_(("use", "settle")), PointEntry.kind != "transfer_out")
    row = session.execute(
        select(
            func.coalesce(func.sum(case((used_kind, LotMovement.points), else_=0)), 0),
            func.coalesce(func.sum(case((LotMovement.kind == "expire", LotMovement.points), else_=0)), 0),
        )
        .join(PointEntry, PointEntry.id == LotMovement.entry_id)
        .where(
            LotMovement.kind.in_(("use", "settle", "expire")),
            PointEntry.occurred_at > window_start,
            PointEntry.occurred_at <= as_of,
        )
    ).one()
    used, expired = int(row[0]), int(row[1])
    moved = used + expired
    if moved < MIN_HISTORY_POINTS:
        note = (
            f"only {moved} points were used or expired in the last {HISTORY_MONTHS} months (fewer than "
            f"{MIN_HISTORY_POINTS}): breakage is assumed to be {DEFAULT_BREAKAGE * 100:.0f}%, every point redeemed, "
            "until the history is long enough to estimate it"
        )
        return Breakage(
            rate=DEFAULT_BREAKAGE.quantize(RATE_STEP),
            source="default",
            used_points=used,
            expired_points=expired,
            moved_points=moved,
            window_start=window_start,
            window_end=as_of,
            min_points=MIN_HISTORY_POINTS,
            note=note,
        )
    rate = (Decimal(expired) / Decimal(moved)).quantize(RATE_STEP, rounding=ROUND_HALF_UP)
    return Breakage(
        rate=rate,
        source="history",
        used_points=used,
        expired_points=expired,
        moved_points=moved,
        window_start=window_start,
        window_end=as_of,
        min_points=MIN_HISTORY_POINTS,
        note=None,
    )


def _buckets(session: Session, config: ProgramConfig, as_of: datetime, rate: Decimal) -> tuple[list[ExpiryBucket], int]:
    """Open lots summed per (status, expiry instant) in the database, folded into local months
    here: lots expire at the end of local days, so there are at most a few hundred instants a year
    however many lots share them."""
    rows = session.execute(
        select(PointLot.status, PointLot.expires_at, func.sum(PointLot.remaining))
        .where(PointLot.status.in_(OPEN))
        .group_by(PointLot.status, PointLot.expires_at)
    ).all()
    zone = ZoneInfo(config.timezone)
    sums: dict[str | None, list[int]] = {}
    overdue = 0
    for status, expires_at, points in rows:
        points = int(points or 0)
        if expires_at is None:
            key = None
        else:
            # The instant is the start of the day after the last spendable one.
            key = month_key((clock.as_utc(expires_at) - timedelta(microseconds=1)).astimezone(zone).date())
            if clock.as_utc(expires_at) <= as_of:
                overdue += points
        pair = sums.setdefault(key, [0, 0])
        pair[0 if status == "available" else 1] += points
    buckets = []
    for key in sorted(sums, key=lambda k: (k is None, k or "")):
        available, pending = sums[key]
        points = available + pending
        value = Decimal(points) * config.point_value
        keep = Decimal(1) if key is None else Decimal(1) - rate
        buckets.append(
            ExpiryBucket(
                month=key,
                available_points=available,
                pending_points=pending,
                points=points,
                value=money(value),
                expected_cost=money(value * keep),
            )
        )
    return buckets, overdue


def _history(session: Session, config: ProgramConfig, as_of: datetime) -> list[MonthFlow]:
    # An as_of at local midnight closes the day before, like every month boundary here.
    last_day = expiry.local_date(as_of - timedelta(microseconds=1), config.timezone)
    months = month_starts(last_day, HISTORY_MONTHS, config.timezone)
    bounds = [start for _, start in months]
    index = month_index(PointEntry.occurred_at, bounds).label("month")

    def total(condition: ColumnElement[bool], sign: int) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, PointEntry.points * sign), else_=0)), 0)

    rows = session.execute(
        select(
            index,
            total(and_(PointEntry.kind.in_(("earn", "adjust")), PointEntry.points > 0), 1),
            total(PointEntry.kind == "redeem", -1),
            total(PointEntry.kind == "expire", -1),
            total(PointEntry.kind == "reverse", -1),
        )
        .where(
            PointEntry.kind.in_(("earn", "adjust", "redeem", "expire", "reverse")),
            PointEntry.occurred_at > bounds[0],
            PointEntry.occurred_at <= bounds[-1],
        )
        .group_by(index)
    ).all()
    found = {int(r[0]): r for r in rows}
    flows = []
    for i, (key, _) in enumerate(months[:-1]):
        r = found.get(i)
        flows.append(
            MonthFlow(
                month=key,
                issued=int(r[1]) if r else 0,
                redeemed=int(r[2]) if r else 0,
                expired=int(r[3]) if r else 0,
                reversed=int(r[4]) if r else 0,
            )
        )
    return flows


def liability(session: Session, actor: Principal, *, as_of: datetime | None = None) -> LiabilityReport:
    """The points liability: open lots as the ledger stands, history windows ending at `as_of`
    (default now). One program per installation, so every lot is this program's."""
    require(actor, "liability", "read")
    at = _as_of(as_of)
    config = program.load(session)
    breakage = expected_breakage(session, at)
    buckets, overdue = _buckets(session, config, at, breakage.rate)
    debt = session.execute(
        select(func.count(), func.coalesce(func.sum(-LoyaltyAccount.points_balance), 0)).where(
            LoyaltyAccount.points_balance < 0
        )
    ).one()
    available = sum(b.available_points for b in buckets)
    pending = sum(b.pending_points for b in buckets)
    outstanding = available + pending
    expiring = sum(b.points for b in buckets if b.month is not None)
    never = outstanding - expiring
    exact_cost = (Decimal(expiring) * (Decimal(1) - breakage.rate) + Decimal(never)) * config.point_value
    return LiabilityReport(
        as_of=at,
        currency=config.currency,
        timezone=config.timezone,
        point_value=config.point_value,
        available_points=available,
        pending_points=pending,
        outstanding_points=outstanding,
        outstanding_value=money(Decimal(outstanding) * config.point_value),
        overdue_points=overdue,
        by_expiry_month=buckets,
        debt_points=int(debt[1]),
        debt_accounts=int(debt[0]),
        debt_value=money(Decimal(int(debt[1])) * config.point_value),
        breakage=breakage,
        expected_cost=money(exact_cost),
        history=_history(session, config, at),
    )
