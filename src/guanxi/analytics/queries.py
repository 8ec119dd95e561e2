"""Reading a run's outputs: the figures behind the dashboards, as pandas data frames.

This is also the analysts' Python API (`guanxi.analytics`): every function reads the last
complete run's Parquet files (or the dated snapshots) through Ibis on an in-memory DuckDB, so it
never touches the operational database or the warehouse file a run may be writing.

Filters (store, channel, tier) apply to the orders; a period is a calendar month or week of the
business day (UTC dates in the warehouse).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from guanxi.analytics.lifecycle import STAGES
from guanxi.analytics.outputs import current_folder
from guanxi.analytics.rfm import SEGMENTS

Period = Literal["month", "week"]
ACTIVE_DAYS = 365  # a customer is "a customer" while they bought within this many days


class NoRunYet(LookupError):
    """No analytics run has completed: there is nothing to read."""


@dataclass(frozen=True)
class Filters:
    store: str | None = None
    channel: str | None = None
    tier: str | None = None


def _connection() -> ibis.BaseBackend:
    return ibis.duckdb.connect()


def _file(name: str, folder: Path | None = None) -> Path:
    folder = folder or current_folder()
    if folder is None:
        raise NoRunYet("no analytics run has completed yet")
    return folder / f"{name}.parquet"


def _table(con: ibis.BaseBackend, name: str) -> ir.Table:
    return con.read_parquet(_file(name))


def _filtered(purchases: ir.Table, filters: Filters | None) -> ir.Table:
    if filters is None:
        return purchases
    if filters.store:
        purchases = purchases.filter(purchases.store == filters.store)
    if filters.channel:
        purchases = purchases.filter(purchases.channel == filters.channel)
    if filters.tier:
        purchases = purchases.filter(purchases.tier == filters.tier)
    return purchases


def _period_start(day: ir.DateValue, period: Period) -> ir.DateValue:
    return day.truncate("M" if period == "month" else "W")


def kpis(
    *, period: Period = "month", start: date | None = None, end: date | None = None, filters: Filters | None = None
) -> pd.DataFrame:
    """Per period: revenue, orders, buyers, average order value, purchase frequency (orders per
    buyer), repeat-purchase rate (buyers with two or more purchase days in the period), new
    buyers, customers at start and end (bought within the last 365 days), retention rate
    ((customers at end - new) / customers at start) and churn rate (1 - retention)."""
    con = _connection()
    p = _filtered(_table(con, "purchases"), filters)
    p = p.mutate(period=_period_start(p.day, period))
    first = p.group_by("customer_id").aggregate(first_day=p.day.min())
    per_customer = p.group_by(["period", "customer_id"]).aggregate(
        days=p.day.nunique(), orders=p.count(), net=p.net.sum()
    )
    per_period = per_customer.group_by("period").aggregate(
        revenue=per_customer.net.sum(),
        orders=per_customer.orders.sum(),
        buyers=per_customer.count(),
        repeat_buyers=(per_customer.days >= 2).ifelse(1, 0).sum(),
    )
    firsts = first.mutate(period=_period_start(first.first_day, period))
    newcomers = firsts.group_by("period").aggregate(new_buyers=firsts.count())
    frame = per_period.left_join(newcomers, "period").drop("period_right").order_by("period").execute()
    if frame.empty:
        return frame
    frame["period"] = pd.to_datetime(frame["period"]).dt.date
    bounds = sorted({*frame["period"], *(_next(d, period) for d in frame["period"])})
    active = _active_at(con, p, bounds)
    frame["customers_start"] = frame["period"].map(active)
    frame["customers_end"] = frame["period"].map(lambda d: active[_next(d, period)])
    frame["new_buyers"] = frame["new_buyers"].fillna(0).astype("int64")
    frame["aov"] = (frame["revenue"] / frame["orders"]).round(2)
    frame["frequency"] = (frame["orders"] / frame["buyers"]).round(3)
    frame["repeat_rate"] = (frame["repeat_buyers"] / frame["buyers"]).round(4)
    starts = frame["customers_start"].where(frame["customers_start"] > 0)
    frame["retention_rate"] = ((frame["customers_end"] - frame["new_buyers"]) / starts).clip(lower=0).round(4)
    frame["churn_rate"] = (1 - frame["retention_rate"]).round(4)
    if start is not None:
        frame = frame[frame["period"] >= start]
    if end is not None:
        frame = frame[frame["period"] <= end]
    return frame.reset_index(drop=True)


def _next(start_of: date, period: Period) -> date:
    if period == "week":
        return start_of + timedelta(days=7)
    return date(start_of.year + (start_of.month == 12), start_of.month % 12 + 1, 1)


def _active_at(con: ibis.BaseBackend, purchases: ir.Table, moments: list[date]) -> dict[date, int]:
    """Customers who bought within ACTIVE_DAYS before each moment (a range join in the engine)."""
    marks = ibis.memtable({"moment": moments}).cast({"moment": "date"})
    days = purchases.select("customer_id", "day").distinct()
    joined = days.join(marks, [days.day < marks.moment, days.day >= marks.moment - ibis.interval(days=ACTIVE_DAYS)])
    counted = joined.group_by("moment").aggregate(customers=joined.customer_id.nunique()).execute()
    found = {pd.Timestamp(m).date(): int(c) for m, c in zip(counted["moment"], counted["customers"], strict=True)}
    return {moment: found.get(moment, 0) for moment in moments}


def points(*, period: Period = "month") -> pd.DataFrame:
    """Points issued (earned, bonus, adjusted up) and redeemed per period."""
    con = _connection()
    t = _table(con, "points")
    t = t.mutate(period=_period_start(t.day, period))
    frame = (
        t.group_by("period")
        .aggregate(
            issued=(t.points > 0).ifelse(t.points, 0).sum(), redeemed=(t.kind == "redeem").ifelse(-t.points, 0).sum()
        )
        .order_by("period")
        .execute()
    )
    frame["period"] = pd.to_datetime(frame["period"]).dt.date
    frame["redemption_rate"] = (frame["redeemed"] / frame["issued"].where(frame["issued"] > 0)).round(4)
    return frame


def scores(as_of: date | None = None) -> pd.DataFrame:
    """Every scored customer's scores: the last run's, or the snapshot of a date."""
    from guanxi.analytics.runner import snapshot_path

    path = snapshot_path(as_of) if as_of else _file("scores")
    if not path.exists():
        raise NoRunYet(f"no snapshot as of {as_of}")
    return _connection().read_parquet(path).execute()


def rfm_grid() -> pd.DataFrame:
    """Customers and their mean spend per (R, F) cell of the last run."""
    con = _connection()
    s = _table(con, "scores")
    s = s.filter(s.r_score.notnull())
    return (
        s.group_by(["r_score", "f_score"])
        .aggregate(customers=s.count(), monetary=s.monetary.cast("float64").mean().round(2))
        .order_by(["r_score", "f_score"])
        .execute()
    )


def segment_sizes() -> pd.DataFrame:
    """Customers, share and spend per RFM segment, in the map's order."""
    con = _connection()
    s = _table(con, "scores")
    s = s.filter(s.rfm_segment.notnull())
    frame = (
        s.group_by("rfm_segment").aggregate(customers=s.count(), monetary=s.monetary.cast("float64").sum()).execute()
    )
    frame["share"] = (frame["customers"] / frame["customers"].sum()).round(4) if len(frame) else frame["customers"]
    order = {segment: i for i, segment in enumerate((*SEGMENTS, "other"))}
    return frame.sort_values("rfm_segment", key=lambda c: c.map(order)).reset_index(drop=True)


def lifecycle_funnel() -> pd.DataFrame:
    con = _connection()
    s = _table(con, "scores")
    frame = s.group_by("lifecycle_stage").aggregate(customers=s.count()).execute()
    counts = dict(zip(frame["lifecycle_stage"], frame["customers"], strict=True))
    return pd.DataFrame({"lifecycle_stage": list(STAGES), "customers": [int(counts.get(s, 0)) for s in STAGES]})


def migration(before: date, after: date, *, by: str = "rfm_segment") -> pd.DataFrame:
    """How many customers moved from each segment (rows) to each segment (columns) between the
    snapshots of two dates; customers scored on one date only appear as "none" on the other."""
    old = scores(before)[["customer_id", by]].rename(columns={by: "from"})
    new = scores(after)[["customer_id", by]].rename(columns={by: "to"})
    both = old.merge(new, on="customer_id", how="outer").fillna({"from": "none", "to": "none"})
    return pd.crosstab(both["from"], both["to"])


def cohorts(*, period: Period = "month", filters: Filters | None = None, periods: int = 12) -> pd.DataFrame:
    """The retention triangle: customers by the period of their first purchase (rows), and the
    share of them who bought again k periods later (columns 0..periods-1)."""
    con = _connection()
    p = _filtered(_table(con, "purchases"), filters)
    p = p.mutate(period=_period_start(p.day, period))
    first = p.group_by("customer_id").aggregate(cohort=p.period.min())
    active = p.select("customer_id", "period").distinct().join(first, "customer_id").execute()
    if active.empty:
        return pd.DataFrame()
    active["cohort"] = pd.to_datetime(active["cohort"])
    active["period"] = pd.to_datetime(active["period"])
    if period == "month":
        step = (
            (active["period"].dt.year - active["cohort"].dt.year) * 12
            + active["period"].dt.month
            - active["cohort"].dt.month
        )
    else:
        step = (active["period"] - active["cohort"]).dt.days // 7
    active["k"] = step
    active = active[active["k"] < periods]
    table = active.pivot_table(index="cohort", columns="k", values="customer_id", aggfunc="nunique").fillna(0)
    sizes = table[0]
    shares = table.div(sizes, axis=0).round(4)
    last = active["period"].max()
    for cohort in shares.index:  # periods that have not happened yet are unknown, not 0 %
        if period == "month":
            elapsed = (last.year - cohort.year) * 12 + last.month - cohort.month
        else:
            elapsed = (last - cohort).days // 7
        shares.loc[cohort, [k for k in shares.columns if k > elapsed]] = float("nan")
    shares.insert(0, "customers", sizes.astype("int64"))
    shares.index = shares.index.date
    return shares


def clv_distribution(*, bins: int = 20) -> pd.DataFrame:
    """Customers per CLV band (equal-width bands up to the 99th percentile, the rest in the last)."""
    frame = scores()[["clv"]].dropna()
    if frame.empty:
        return pd.DataFrame(columns=["low", "high", "customers"])
    values = frame["clv"].astype(float)
    top = max(float(values.quantile(0.99)), 1.0)
    edges = [top * i / bins for i in range(bins + 1)]
    counts = pd.cut(values.clip(upper=top), bins=edges, include_lowest=True).value_counts(sort=False)
    return pd.DataFrame({"low": edges[:-1], "high": edges[1:], "customers": counts.to_numpy()})


def top_customers(*, by: str = "clv", limit: int = 20) -> pd.DataFrame:
    frame = scores()
    return frame.dropna(subset=[by]).sort_values([by, "customer_id"], ascending=[False, True]).head(limit)


def basket_rules(*, level: Literal["category", "sku"] = "category", limit: int = 50) -> pd.DataFrame:
    frame = _connection().read_parquet(_file("basket_rules")).execute()
    return frame[frame["level"] == level].head(limit).reset_index(drop=True)


def recommendations(customer_id: str) -> pd.DataFrame:
    con = _connection()
    r = _table(con, "recommendations")
    return r.filter(r.customer_id == customer_id).order_by("rank").execute()


def purchases(filters: Filters | None = None) -> pd.DataFrame:
    """The last run's counted orders: customer, time, day, net value, store, channel, tier."""
    return _filtered(_table(_connection(), "purchases"), filters).execute()
