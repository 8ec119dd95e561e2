"""Customer analytics: warehouse sync, RFM, lifecycle, CLV, churn, clusters, basket rules, KPIs.

For analysts, the figures of the last run as pandas data frames (see docs/analytics.md)::

    from guanxi import analytics

    analytics.kpis(period="month", filters=analytics.Filters(store="SH-01"))
    analytics.scores()                      # every scored customer
    analytics.segment_sizes(); analytics.rfm_grid(); analytics.lifecycle_funnel()
    analytics.migration(date(2026, 11, 1), date(2026, 12, 1))
    analytics.cohorts(); analytics.clv_distribution(); analytics.basket_rules(level="sku")
    analytics.tables()                      # the warehouse's tables as Ibis expressions

Every function reads files a run left behind, never the operational database. The models
themselves are importable on their own (`guanxi.analytics.clv`, `.rfm`, `.churn_model`,
`.clusters`, `.basket`) and take plain frames or arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guanxi.analytics.purchases import Warehouse

_QUERIES = (
    "Filters",
    "NoRunYet",
    "kpis",
    "points",
    "purchases",
    "scores",
    "rfm_grid",
    "segment_sizes",
    "lifecycle_funnel",
    "migration",
    "cohorts",
    "clv_distribution",
    "top_customers",
    "basket_rules",
    "recommendations",
)
__all__ = [*_QUERIES, "tables"]


def tables(*, read_only: bool = True) -> Warehouse:
    """The warehouse's tables (customers, orders, order_lines, accounts, point_entries, coupons,
    events) as Ibis expressions. DuckDB lets one process write the file: while a run is going in
    another process, this waits for nothing and fails; read the run's outputs instead."""
    import ibis

    from guanxi.analytics.purchases import Warehouse
    from guanxi.analytics.warehouse.store import warehouse_dir

    return Warehouse.on(ibis.duckdb.connect(str(warehouse_dir() / "warehouse.duckdb"), read_only=read_only))


def __getattr__(name: str) -> Any:
    # The query layer loads DuckDB and pandas: only when an analyst asks for it, so importing a
    # model module (or the domain's tables) stays light.
    if name in _QUERIES:
        from guanxi.analytics import queries

        return getattr(queries, name)
    raise AttributeError(f"module 'guanxi.analytics' has no attribute {name!r}")
