"""What the analytics pages read, in one call each, for `nicegui.run.io_bound`: the queries read
Parquet files through DuckDB (a tenth of a second on the demo, longer on a big base), so the pages
run them off the event loop and draw when they come back.

The functions here touch no database and no page: the names of customers (masked as the role
sees them) and of tiers are read by the pages through `perform`, after the frames are back.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.analytics import outputs, queries, runner
from guanxi.analytics.queries import Filters, NoRunYet, Period
from guanxi.auth import permissions
from guanxi.auth.service import require
from guanxi.customers import presenter
from guanxi.customers import repository as customer_rows
from guanxi.customers.models import Customer
from guanxi.kit.principal import Principal
from guanxi.loyalty import explain
from guanxi.loyalty.orders.models import OrderLine
from guanxi.loyalty.program import config as program

log = logging.getLogger("guanxi.console")
TREND_PERIODS = {"month": 24, "week": 26}  # periods drawn in the trends
TOP_CUSTOMERS = 20
TOP_RULES = 15

__all__ = ["Choices", "Dashboard", "HomeFigures", "NoRunYet"]


@dataclass(frozen=True)
class Choices:
    """The filters' choices: the values the data holds (codes; the page names them)."""

    stores: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Dashboard:
    as_of: date | None
    report: dict[str, Any]
    choices: Choices
    snapshot_dates: list[date]
    kpis: pd.DataFrame
    rfm: pd.DataFrame
    segments: pd.DataFrame
    funnel: pd.DataFrame
    cohorts: pd.DataFrame
    clv: pd.DataFrame
    top: pd.DataFrame
    top_by: str  # "clv", or "monetary" when the run fitted no lifetime values
    category_rules: pd.DataFrame
    sku_rules: pd.DataFrame


def _distinct(frame: Any, column: str) -> list[str]:
    values = frame.select(column).distinct().execute()[column]
    return sorted(str(v) for v in values if isinstance(v, str) and v)


def choices() -> Choices:
    folder = outputs.current_folder()
    if folder is None:
        raise NoRunYet("no analytics run has completed yet")
    table = ibis.duckdb.connect().read_parquet(folder / "purchases.parquet")
    return Choices(_distinct(table, "store"), _distinct(table, "channel"), _distinct(table, "tier"))


def load_dashboard(filters: Filters, period: Period) -> Dashboard:
    """Every frame of the dashboard for the filters and period (raises NoRunYet)."""
    report = outputs.current_report() or {}
    kpis = queries.kpis(period=period, filters=filters)
    if len(kpis):
        kpis = kpis.tail(TREND_PERIODS[period]).reset_index(drop=True)
    rules = queries.basket_rules(level="category", limit=TOP_RULES)
    sku_rules = queries.basket_rules(level="sku", limit=TOP_RULES)
    as_of = report.get("as_of")
    top, top_by = queries.top_customers(by="clv", limit=TOP_CUSTOMERS), "clv"
    if top.empty:
        top, top_by = queries.top_customers(by="monetary", limit=TOP_CUSTOMERS), "monetary"
        top = top[top["monetary"].astype(float) > 0]  # who never bought is no "most valuable" customer
    return Dashboard(
        as_of=date.fromisoformat(as_of) if isinstance(as_of, str) else None,
        report=report,
        choices=choices(),
        snapshot_dates=runner.snapshot_dates(),
        kpis=kpis,
        rfm=queries.rfm_grid(),
        segments=queries.segment_sizes(),
        funnel=queries.lifecycle_funnel(),
        cohorts=queries.cohorts(period=period, filters=filters),
        clv=queries.clv_distribution(),
        top=top,
        top_by=top_by,
        category_rules=rules,
        sku_rules=sku_rules,
    )


def load_migration(before: date, after: date) -> pd.DataFrame:
    return queries.migration(before, after)


@dataclass(frozen=True)
class HomeFigures:
    as_of: date | None
    kpis: pd.DataFrame  # monthly, the last 13 months at most
    points: pd.DataFrame


def load_home() -> HomeFigures:
    report = outputs.current_report() or {}
    as_of = report.get("as_of")
    kpis = queries.kpis(period="month")
    points = queries.points(period="month")
    return HomeFigures(
        as_of=date.fromisoformat(as_of) if isinstance(as_of, str) else None,
        kpis=kpis.tail(13).reset_index(drop=True),
        points=points.tail(13).reset_index(drop=True),
    )


@dataclass(frozen=True)
class CustomerAnalytics:
    recommendations: pd.DataFrame
    cluster_traits: dict[int, list[tuple[str, dict[str, Any]]]]
    cluster_params: dict[int, dict[str, Any]]


def load_customer(customer_id: str) -> CustomerAnalytics:
    """A customer's recommendations and the last run's cluster traits (empty before a run)."""
    try:
        recommended = queries.recommendations(customer_id)
    except NoRunYet:
        recommended = pd.DataFrame()
    except Exception:  # a run without any rule leaves a file of untyped columns: nothing to show
        log.warning("the last run's recommendations could not be read", exc_info=True)
        recommended = pd.DataFrame()
    report = outputs.current_report() or {}
    traits: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    params: dict[int, dict[str, Any]] = {}
    for profile in report.get("clusters") or []:
        number = int(profile.get("cluster", -1))
        traits[number] = [(str(key), dict(values or {})) for key, values in profile.get("traits") or []]
        params[number] = dict(profile.get("name_params") or {})
    return CustomerAnalytics(recommended, traits, params)


# -- names read from the database, after the frames ----------------------------------------------


def customer_names(session: Session, actor: Principal, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(display name, member number) of the customers the caller may see, masked as the role
    sees them; customers out of the caller's scope are left out."""
    require(actor, "customers", "read")
    if not ids:
        return {}
    stmt = customer_rows.customers(actor).where(Customer.id.in_(list(ids)))
    vis = permissions.visibility(actor)
    found: dict[str, tuple[str, str]] = {}
    for customer in session.scalars(stmt):
        shown = presenter.customer_out(customer, [], [], actor, visibility=vis)
        found[customer.id] = (shown.display_name, customer.member_no)
    return found


def sku_categories(session: Session, skus: Sequence[str]) -> dict[str, str]:
    """The category the order lines give each SKU (products are not personal data)."""
    if not skus:
        return {}
    rows = session.execute(
        select(OrderLine.sku, OrderLine.category).where(OrderLine.sku.in_(list(skus))).distinct()
    ).tuples()
    return {sku: category for sku, category in rows if sku and category}


def tier_names(session: Session, language: str) -> dict[str, str]:
    """The loyalty tiers' names by code in the reader's language (the ladder is not personal)."""
    return explain.tier_names(program.load(session).tiers, language)


# -- CSV -----------------------------------------------------------------------------------------


def csv_bytes(rows: Sequence[Mapping[str, object]], columns: Mapping[str, str]) -> bytes:
    """A CSV with the columns' labels as its header (UTF-8 with a byte-order mark, so Excel reads
    Chinese correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(list(columns.values()))
    for row in rows:
        writer.writerow(["" if row.get(name) is None else row.get(name) for name in columns])
    return buffer.getvalue().encode("utf-8-sig")


def frame_rows(
    frame: pd.DataFrame, convert: Mapping[str, Callable[[Any], object]] | None = None
) -> list[dict[str, object]]:
    """A frame's rows as plain values (NaN as empty), each column through `convert` if given."""
    rows: list[dict[str, object]] = []
    for record in frame.to_dict(orient="records"):
        row: dict[str, object] = {}
        for name, value in record.items():
            if isinstance(value, float) and value != value:
                value = None
            if convert and str(name) in convert and value is not None:
                value = convert[str(name)](value)
            row[str(name)] = value
        rows.append(row)
    return rows
