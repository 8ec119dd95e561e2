"""The analytics dashboard (/analytics): the last run's figures as charts, for analytics readers.

Filters (store, channel, loyalty tier; by month or week) apply to what is counted from orders —
the KPI trends and the cohorts; the scores (RFM, segments, stages, CLV) are the customers' as of
the run. The frames are read off the event loop (`analytics_data`, through `run.io_bound`) after
the page has drawn its frame, so a big base never holds up the console. Each chart downloads as a
PNG (ECharts' own button) and as a CSV of the figures behind it.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from nicegui import run, ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.analytics import runner
from guanxi.analytics.queries import Filters, NoRunYet, Period
from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.pages import analytics_charts as charts
from guanxi.console.pages import analytics_data as data
from guanxi.console.pages import analytics_labels as labels
from guanxi.console.pages import analytics_panels as panels
from guanxi.console.pages.runs import follow_in_dialog
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import notice, page_title
from guanxi.kit import formatting
from guanxi.kit.db import get_database
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun

log = logging.getLogger("guanxi.console")
PATH = "/analytics"
PERIODS: tuple[Period, ...] = ("month", "week")


def start_run() -> None:
    """Record a run (it goes on in the background) and follow it in a dialog; the page reloads
    with the new figures once it is done."""
    database = get_database()
    result = perform(lambda s, p: runner.start(s, p, database).id)
    if result.value is not None:
        follow_in_dialog(result.value, runner.get_run, tr("analytics.dash.run"), _ran)


def _ran(run: BackgroundRun) -> None:
    ui.notify(tr("analytics.dash.run_done"), type="positive")
    ui.navigate.reload()


def run_button(principal: Principal, *, label_key: str = "analytics.dash.run", marker: str = "analytics-run") -> None:
    if is_allowed(principal, "analytics", "create"):
        ui.button(tr(label_key), icon="insights", on_click=start_run).props("unelevated no-caps").mark(marker)


def no_run_yet(principal: Principal) -> None:
    """Before the first complete run: say so, and offer the run to who may start one."""
    with ui.card().classes("w-full items-start gap-3").mark("analytics-no-run"):
        ui.label(tr("analytics.dash.no_run")).classes("text-base font-medium")
        ui.label(tr("analytics.dash.no_run_hint")).classes("text-sm text-slate-500")
        run_button(principal, label_key="analytics.dash.run_now", marker="analytics-run-now")


def load_failed() -> None:
    notice(tr("analytics.dash.load_failed"), kind="error")


class AnalyticsDashboard:
    def __init__(self, principal: Principal) -> None:
        self.viewer = principal
        self.filters: dict[str, str | None] = {"store": None, "channel": None, "tier": None}
        self.period: Period = "month"
        self.tiers: dict[str, str] = {}
        self.loaded: data.Dashboard | None = None

    def build(self) -> None:
        with ui.row().classes("w-full items-center gap-3"):
            page_title(tr("analytics.dash.title"))
            self.as_of = ui.label("").classes("text-sm text-slate-500").mark("analytics-as-of")
            ui.space()
            self.header_actions = ui.row()
            with self.header_actions:
                run_button(self.viewer)
        self.filter_row = ui.row().classes("w-full items-center gap-2").mark("analytics-filters")
        self.body = ui.column().classes("w-full gap-4").mark("analytics-body")
        self._waiting(self.body)
        ui.timer(0, self.load, once=True)

    @staticmethod
    def _waiting(box: ui.element) -> None:
        box.clear()
        with box, ui.row().classes("w-full justify-center py-12"):
            ui.spinner(size="lg").mark("analytics-loading")

    async def load(self) -> None:
        self._waiting(self.body)
        filters = Filters(**self.filters)
        try:
            loaded = await run.io_bound(data.load_dashboard, filters, self.period)
        except NoRunYet:
            self.body.clear()
            self.filter_row.set_visibility(False)
            self.header_actions.set_visibility(False)  # the card below offers the run
            with self.body:
                no_run_yet(self.viewer)
            return
        except Exception:
            log.exception("analytics dashboard: the run's outputs could not be read")
            self.body.clear()
            with self.body:
                load_failed()
            return
        if loaded is None:  # the app is shutting down
            return
        if self.loaded is None:
            self._names_of_tiers()
            self._filters(loaded.choices)
        self.loaded = loaded
        self.as_of.set_text(tr("analytics.dash.as_of", day=formatting.day(loaded.as_of, language())))
        self.body.clear()
        with self.body:
            self.render(loaded)

    def _names_of_tiers(self) -> None:
        lang = language()
        result = perform(lambda s, p: data.tier_names(s, lang), principal=self.viewer, write=False, notify=False)
        self.tiers = result.value or {}

    # filters ----------------------------------------------------------------------------------

    def _filters(self, choices: data.Choices) -> None:
        self.filter_row.clear()
        with self.filter_row:
            self._select("store", {code: code for code in choices.stores})
            self._select("channel", {code: labels.channel_name(code) for code in choices.channels})
            self._select(
                "tier", {code: self.tiers.get(code, tr("analytics.dash.tier_unnamed")) for code in choices.tiers}
            )
            periods = {p: tr(f"analytics.dash.period.{p}") for p in PERIODS}
            toggle = ui.toggle(periods, value=self.period, on_change=lambda e: self._set_period(str(e.value)))
            toggle.props("dense no-caps unelevated toggle-color=primary").mark("analytics-period")
            ui.label(tr("analytics.dash.filters_hint")).classes("text-xs text-slate-500")

    def _select(self, name: str, choices: dict[str, str]) -> None:
        element = ui.select(
            choices,
            label=tr(f"analytics.dash.filter.{name}"),
            clearable=True,
            with_input=name == "store",
            on_change=lambda e: self._set_filter(name, e.value),
        )
        element.props("outlined dense options-dense").classes("w-44").mark(f"analytics-filter-{name}")

    async def _set_filter(self, name: str, value: Any) -> None:
        self.filters[name] = str(value) if value else None
        await self.load()

    async def _set_period(self, value: str) -> None:
        self.period = "week" if value == "week" else "month"
        await self.load()

    # sections ---------------------------------------------------------------------------------

    def render(self, d: data.Dashboard) -> None:
        period = self.period
        with ui.row().classes("w-full gap-4 items-stretch max-md:flex-wrap"):
            kpis = d.kpis if len(d.kpis) else None
            panels.chart_card(
                tr("analytics.dash.chart.kpis"),
                "analytics-kpis",
                charts.kpi_trend(d.kpis, period, tr("analytics.dash.chart.kpis"), d.as_of)
                if kpis is not None
                else None,
                lambda: self._kpi_export(d),
            )
            panels.chart_card(
                tr("analytics.dash.chart.rates"),
                "analytics-rates",
                charts.rate_trend(d.kpis, period, tr("analytics.dash.chart.rates"), d.as_of)
                if kpis is not None
                else None,
                lambda: self._kpi_export(d),
            )
        with ui.row().classes("w-full gap-4 items-stretch max-md:flex-wrap"):
            panels.chart_card(
                tr("analytics.dash.chart.rfm"),
                "analytics-rfm",
                charts.rfm_heatmap(d.rfm, tr("analytics.dash.chart.rfm")) if len(d.rfm) else None,
                lambda: self._rfm_export(d),
                height="h-80",
            )
            panels.chart_card(
                tr("analytics.dash.chart.segments"),
                "analytics-segments",
                charts.segment_bars(d.segments, tr("analytics.dash.chart.segments")) if len(d.segments) else None,
                lambda: self._segments_export(d),
                height="h-80",
            )
        with ui.row().classes("w-full gap-4 items-stretch max-md:flex-wrap"):
            panels.chart_card(
                tr("analytics.dash.chart.funnel"),
                "analytics-funnel",
                charts.lifecycle_bars(d.funnel, tr("analytics.dash.chart.funnel"))
                if int(d.funnel["customers"].sum())
                else None,
                lambda: self._funnel_export(d),
                height="h-80",
            )
            panels.chart_card(
                tr("analytics.dash.chart.clv"),
                "analytics-clv",
                charts.clv_histogram(d.clv, tr("analytics.dash.chart.clv")) if len(d.clv) else None,
                lambda: self._clv_export(d),
                height="h-80",
                empty=tr("analytics.dash.no_clv"),
            )
        MigrationSection(d.snapshot_dates).build()
        panels.chart_card(
            tr("analytics.dash.chart.cohorts"),
            "analytics-cohorts",
            charts.cohort_heatmap(d.cohorts, period, tr("analytics.dash.chart.cohorts")) if len(d.cohorts) else None,
            lambda: self._cohort_export(d),
            height="h-[32rem]",
            classes="w-full",
        )
        self._top_customers(d)
        self._rules(d)
        panels.report_section(d.report)

    def _top_customers(self, d: data.Dashboard) -> None:
        ids = [str(i) for i in d.top["customer_id"]] if len(d.top) else []
        found = perform(lambda s, p: data.customer_names(s, p, ids), principal=self.viewer, write=False, notify=False)
        rows = panels.top_rows(d.top, found.value or {}) if ids else []
        columns = panels.top_columns()
        with ui.card().classes("w-full gap-2").mark("analytics-top"):
            with ui.row().classes("w-full items-center"):
                ui.label(tr("analytics.dash.chart.top")).classes("text-base font-medium text-slate-700")
                ui.space()
                if rows:
                    panels.export_button(
                        "analytics-top", lambda: (rows, {n: label for n, label, _ in columns}), "analytics-top"
                    )
            if rows and d.top_by == "monetary":
                ui.label(tr("analytics.dash.top.by_spend")).classes("text-xs text-slate-500").mark("analytics-top-by")
            if rows:
                panels.table(columns, rows, "analytics-top-table")
            else:
                ui.label(tr("analytics.dash.no_data")).classes("text-sm text-slate-500").mark("analytics-top-empty")

    def _rules(self, d: data.Dashboard) -> None:
        skus = sorted({str(i) for col in ("antecedents", "consequents") for v in d.sku_rules.get(col, []) for i in v})
        found = perform(lambda s, p: data.sku_categories(s, skus), principal=self.viewer, write=False, notify=False)
        categories = found.value or {}
        columns = panels.rule_columns()
        labels = {n: label for n, label, _ in columns}
        with ui.column().classes("w-full gap-4"):
            for level, rules in (("category", d.category_rules), ("sku", d.sku_rules)):
                rows = panels.rule_rows(rules, level, categories)
                marker = f"analytics-rules-{level}"
                with ui.card().classes("w-full gap-2").mark(marker):
                    with ui.row().classes("w-full items-center"):
                        ui.label(tr(f"analytics.dash.chart.rules_{level}")).classes(
                            "text-base font-medium text-slate-700"
                        )
                        ui.space()
                        if rows:
                            panels.export_button(marker, lambda r=rows: (r, labels), marker)  # type: ignore[misc]
                    if rows:
                        panels.table(columns, rows, f"{marker}-table")
                    else:
                        ui.label(tr("analytics.dash.no_rules")).classes("text-sm text-slate-500").mark(
                            f"{marker}-empty"
                        )

    # CSV exports: the frames behind the charts, columns labelled ----------------------------

    def _kpi_export(self, d: data.Dashboard) -> tuple[list[dict[str, object]], dict[str, str]]:
        names = ("revenue", "orders", "buyers", "new_buyers", "aov", "repeat_rate", "retention_rate", "churn_rate")
        columns = {"period": tr("analytics.dash.column.period"), **{n: tr(f"analytics.dash.kpi.{n}") for n in names}}
        rows = data.frame_rows(d.kpis, {"period": lambda v: labels.period_label(v, self.period)})
        return rows, columns

    def _rfm_export(self, d: data.Dashboard) -> tuple[list[dict[str, object]], dict[str, str]]:
        columns = {
            "r_score": tr("analytics.dash.column.r_score"),
            "f_score": tr("analytics.dash.column.f_score"),
            "customers": tr("analytics.dash.customers"),
            "monetary": tr("analytics.dash.column.mean_spend"),
        }
        return data.frame_rows(d.rfm, {"r_score": int, "f_score": int}), columns

    def _segments_export(self, d: data.Dashboard) -> tuple[list[dict[str, object]], dict[str, str]]:
        columns = {
            "rfm_segment": tr("analytics.dash.column.segment"),
            "customers": tr("analytics.dash.customers"),
            "share": tr("analytics.dash.column.share"),
            "monetary": tr("analytics.dash.column.spend"),
        }
        return data.frame_rows(d.segments, {"rfm_segment": labels.segment_name}), columns

    def _funnel_export(self, d: data.Dashboard) -> tuple[list[dict[str, object]], dict[str, str]]:
        columns = {"lifecycle_stage": tr("analytics.dash.column.stage"), "customers": tr("analytics.dash.customers")}
        return data.frame_rows(d.funnel, {"lifecycle_stage": labels.stage_name}), columns

    def _cohort_export(self, d: data.Dashboard) -> tuple[list[dict[str, object]], dict[str, str]]:
        frame = d.cohorts.reset_index(names="cohort")
        unit = "analytics.dash.cohort.month_n" if self.period == "month" else "analytics.dash.cohort.week_n"
        steps = [c for c in d.cohorts.columns if c != "customers"]
        columns = {"cohort": tr("analytics.dash.column.cohort"), "customers": tr("analytics.dash.customers")}
        columns.update({str(s): tr(unit, n=int(s)) for s in steps})
        frame.columns = [str(c) for c in frame.columns]
        return data.frame_rows(frame, {"cohort": lambda v: labels.period_label(v, self.period)}), columns

    def _clv_export(self, d: data.Dashboard) -> tuple[list[dict[str, object]], dict[str, str]]:
        columns = {
            "low": tr("analytics.dash.column.clv_low"),
            "high": tr("analytics.dash.column.clv_high"),
            "customers": tr("analytics.dash.customers"),
        }
        return data.frame_rows(d.clv, {"low": lambda v: round(v, 2), "high": lambda v: round(v, 2)}), columns


class MigrationSection:
    """Customers moving between segments from one snapshot date to another (the runs keep one
    snapshot a day); the latest two dates to begin with."""

    def __init__(self, dates: list[date]) -> None:
        self.dates = dates

    def build(self) -> None:
        lang = language()
        choices = {d.isoformat(): formatting.day(d, lang) for d in self.dates}
        with ui.card().classes("w-full gap-2").mark("analytics-migration"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(tr("analytics.dash.chart.migration")).classes("text-base font-medium text-slate-700")
                ui.space()
                self.export_box = ui.row()
            if len(self.dates) < 2:
                ui.label(tr("analytics.dash.migration.one_snapshot")).classes("text-sm text-slate-500").mark(
                    "analytics-migration-empty"
                )
                return
            with ui.row().classes("w-full items-center gap-2"):
                self.before = ui.select(
                    choices, label=tr("analytics.dash.migration.before"), value=self.dates[-2].isoformat()
                )
                self.before.props("outlined dense options-dense").classes("w-44").mark("analytics-migration-before")
                self.after = ui.select(
                    choices, label=tr("analytics.dash.migration.after"), value=self.dates[-1].isoformat()
                )
                self.after.props("outlined dense options-dense").classes("w-44").mark("analytics-migration-after")
            self.before.on_value_change(self.load)
            self.after.on_value_change(self.load)
            self.chart_box = ui.column().classes("w-full")
        ui.timer(0, self.load, once=True)

    async def load(self) -> None:
        before, after = date.fromisoformat(str(self.before.value)), date.fromisoformat(str(self.after.value))
        self.chart_box.clear()
        self.export_box.clear()
        if before >= after:
            with self.chart_box:
                ui.label(tr("analytics.dash.migration.order")).classes("text-sm text-slate-500").mark(
                    "analytics-migration-empty"
                )
            return
        try:
            matrix = await run.io_bound(data.load_migration, before, after)
        except Exception:
            log.exception("analytics dashboard: the migration could not be read")
            with self.chart_box:
                load_failed()
            return
        matrix = charts.segment_order(matrix)
        title = tr("analytics.dash.chart.migration")
        lang = language()
        with self.chart_box:
            reading = tr(
                "analytics.dash.migration.reading",
                before=formatting.day(before, lang),
                after=formatting.day(after, lang),
            )
            ui.label(reading).classes("text-xs text-slate-500").mark("analytics-migration-reading")
            ui.echart(charts.migration_heatmap(matrix, title)).classes("w-full h-96").mark("analytics-migration-chart")
        with self.export_box:
            panels.export_button("analytics-migration", lambda: self._export(matrix), "analytics-migration")

    @staticmethod
    def _export(matrix: Any) -> tuple[list[dict[str, object]], dict[str, str]]:
        columns = {"from": tr("analytics.dash.migration.from")}
        columns.update({str(c): labels.segment_name(c) for c in matrix.columns})
        rows = [
            {"from": labels.segment_name(index), **{str(c): int(matrix.at[index, c]) for c in matrix.columns}}
            for index in matrix.index
        ]
        return rows, columns


def analytics_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, PATH):
        if not is_allowed(principal, "analytics", "read"):
            notice(tr("error.permission_denied"))
            return None
        AnalyticsDashboard(principal).build()
    return None


# The route, for `guanxi.console.PAGES`.
ROUTES = ((PATH, analytics_page),)
