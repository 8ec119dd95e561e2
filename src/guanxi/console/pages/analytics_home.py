"""The business figures on the home page, for roles that read analytics: revenue, orders, buyers,
repeat rate, churn rate and points issued and redeemed — this month so far beside last month, each
with the month before it and the change, and a sparkline of the last 12 months.

"This month" is the month of the last run's date (its figures end there). The frames are read off
the event loop after the page has drawn (`analytics_data.load_home` through `run.io_bound`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd
from nicegui import run, ui

from guanxi.analytics.queries import NoRunYet
from guanxi.auth.permissions import is_allowed
from guanxi.console.pages import analytics_charts as charts
from guanxi.console.pages import analytics_data as data
from guanxi.console.pages import analytics_labels as labels
from guanxi.console.pages.analytics_dashboard import PATH, load_failed, no_run_yet
from guanxi.console.session import language, tr
from guanxi.kit import formatting
from guanxi.kit.principal import Principal

log = logging.getLogger("guanxi.console")
SPARK_MONTHS = 12


@dataclass(frozen=True)
class Metric:
    name: str  # catalog key analytics.dash.kpi.<name>, column of its frame
    source: str  # "kpis" or "points"
    show: Callable[[object], str]
    rate: bool = False  # a share: its change is in percentage points
    lower_is_better: bool = False


METRICS = (
    Metric("revenue", "kpis", labels.money),
    Metric("orders", "kpis", labels.number),
    Metric("buyers", "kpis", labels.number),
    Metric("repeat_rate", "kpis", labels.percent, rate=True),
    Metric("churn_rate", "kpis", labels.percent, rate=True, lower_is_better=True),
    Metric("issued", "points", labels.number),
    Metric("redeemed", "points", labels.number),
)


def can_read(principal: Principal) -> bool:
    return is_allowed(principal, "analytics", "read")


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month(day: date) -> date:
    first = month_start(day)
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


def value_at(frame: pd.DataFrame, column: str, month: date) -> float | None:
    """The month's figure; a month without orders counts 0 (its rates are unknown)."""
    if frame.empty or column not in frame:
        return None
    found = frame.loc[frame["period"] == month, column]
    if found.empty:
        return None if column.endswith("_rate") else 0.0
    value = found.iloc[0]
    return None if pd.isna(value) else float(value)


def change_text(metric: Metric, now: float | None, before: float | None) -> tuple[str, str]:
    """The change against the earlier value, and whether it is good, bad or flat (its color)."""
    if now is None or before is None:
        return tr("analytics.home.no_change"), "flat"
    lang = language()
    if metric.rate:
        points = (now - before) * 100
        text = tr("analytics.home.change_points", points=formatting.number(round(points, 1), lang, decimals=1))
        delta = points
    elif before == 0:
        return (tr("analytics.home.no_change"), "flat") if now == 0 else (tr("analytics.home.new"), "good")
    else:
        delta = (now - before) / before
        text = formatting.percent(delta, lang)
    if round(delta, 3) == 0:
        return text, "flat"
    if delta > 0 and not text.startswith(("+", "-", "−")):
        text = f"+{text}"
    good = (delta > 0) != metric.lower_is_better
    return text, "good" if good else "bad"


COLORS = {"good": "text-emerald-700", "bad": "text-red-700", "flat": "text-slate-500"}
ICONS = {"good": "trending_up", "bad": "trending_down", "flat": "trending_flat"}


class HomeDashboard:
    def __init__(self, principal: Principal) -> None:
        self.viewer = principal

    def build(self) -> None:
        self.box = ui.column().classes("w-full gap-3").mark("home-business")
        with self.box, ui.row().classes("w-full justify-center py-8"):
            ui.spinner(size="lg").mark("home-business-loading")
        ui.timer(0, self.load, once=True)

    async def load(self) -> None:
        try:
            figures = await run.io_bound(data.load_home)
        except NoRunYet:
            self.box.clear()
            with self.box:
                no_run_yet(self.viewer)
            return
        except Exception:
            log.exception("home: the analytics figures could not be read")
            self.box.clear()
            with self.box:
                load_failed()
            return
        if figures is None:  # the app is shutting down
            return
        self.box.clear()
        with self.box:
            self.render(figures)

    def render(self, figures: data.HomeFigures) -> None:
        lang = language()
        last_kpi = figures.kpis["period"].max() if len(figures.kpis) else None
        this_month = month_start(figures.as_of) if figures.as_of else last_kpi
        with ui.row().classes("w-full items-baseline gap-3"):
            ui.label(tr("analytics.home.title")).classes("text-lg font-medium")
            if figures.as_of:
                ui.label(tr("analytics.home.as_of", day=formatting.day(figures.as_of, lang))).classes(
                    "text-sm text-slate-500"
                ).mark("home-as-of")
            ui.space()
            ui.link(tr("analytics.home.more"), PATH).classes("text-sm").mark("home-to-analytics")
        if this_month is None:
            ui.label(tr("analytics.dash.no_data")).classes("text-sm text-slate-500")
            return
        last_month = previous_month(this_month)
        month_before = previous_month(last_month)
        with ui.element("div").classes("grid grid-cols-1 sm:grid-cols-2 xl:grid-cols-4 gap-3 w-full"):
            for metric in METRICS:
                frame = figures.kpis if metric.source == "kpis" else figures.points
                self._card(metric, frame, (this_month, last_month, month_before))

    def _card(self, metric: Metric, frame: pd.DataFrame, months: tuple[date, date, date]) -> None:
        """This month over last month, each with the month before it and the change; stacked, so a
        long amount has the card's whole width."""
        this_month, last_month, _ = months
        now, last, before = (value_at(frame, metric.name, m) for m in months)
        lang = language()
        with ui.card().classes("gap-1 p-3 min-w-0").mark(f"home-kpi-{metric.name}"):
            ui.label(tr(f"analytics.dash.kpi.{metric.name}")).classes("text-sm font-medium text-slate-600")
            self._value(
                tr("analytics.home.this_month", month=formatting.month(this_month, lang)),
                metric,
                now,
                last,
                f"home-kpi-{metric.name}-now",
                big=True,
            )
            self._value(
                tr("analytics.home.last_month", month=formatting.month(last_month, lang)),
                metric,
                last,
                before,
                f"home-kpi-{metric.name}-last",
                big=False,
            )
            spark = [] if frame.empty else frame[frame["period"] <= this_month].tail(SPARK_MONTHS)[metric.name].tolist()
            if len(spark) > 1:
                ui.echart(charts.sparkline(spark)).classes("w-full h-10").mark(f"home-kpi-{metric.name}-spark")

    @staticmethod
    def _value(
        label: str, metric: Metric, value: float | None, earlier: float | None, marker: str, *, big: bool
    ) -> None:
        text, kind = change_text(metric, value, earlier)
        with ui.column().classes("gap-0 min-w-0 w-full"):
            ui.label(label).classes("text-xs text-slate-500")
            ui.label(metric.show(value)).classes(
                ("text-2xl font-semibold" if big else "text-base font-medium") + " text-slate-800 break-all"
            ).mark(marker)
            with ui.row().classes(f"items-center gap-1 no-wrap text-xs {COLORS[kind]}").mark(f"{marker}-change"):
                ui.icon(ICONS[kind], size="14px")
                ui.label(tr("analytics.home.versus", change=text, before=metric.show(earlier)))
