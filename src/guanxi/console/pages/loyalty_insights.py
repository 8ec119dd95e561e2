"""The points liability page: what the program owes by the month points expire, expected breakage
and cost, debts, and the last year's flows. Charts are ECharts (shipped with NiceGUI).

The what-if simulation has its own page (loyalty_simulation); both read only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.dates import get_timezone_location
from babel.numbers import format_currency
from nicegui import ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.console.actions import perform
from guanxi.console.pages.loyalty_common import cash, loyalty_frame, month_text, num, unavailable_text
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import card, local_time, notice, page_title
from guanxi.kit import formatting
from guanxi.loyalty.insights import liability
from guanxi.loyalty.insights.liability import LiabilityReport

PATH = "/loyalty/liability"
COLORS = {
    "available": "#5898d4",
    "pending": "#a5c8ec",
    "issued": "#4caf50",
    "redeemed": "#5898d4",
    "expired": "#f0a24b",
    "reversed": "#d9534f",
}


def money(value: Decimal, currency: str) -> str:
    return cash(value, currency)


def percent(rate: Decimal) -> str:
    return formatting.percent(rate, language())


def point_value(value: Decimal, currency: str) -> str:
    """The cash value of one point with every digit it has: ¥0.01, but ¥0.005 (not rounded to ¥0.01)."""
    locale = formatting.locale_of(language())
    return format_currency(value, currency, format="¤#,##0.00##", locale=locale, currency_digits=False)


def month_label(month: str | None) -> str:
    return month_text(month) or tr("loyalty.liability.never")


def expiry_chart(report: LiabilityReport) -> dict[str, Any]:
    """Stacked bars of available and pending points per expiry month, the value in the tooltip."""
    months = [month_label(b.month) for b in report.by_expiry_month]
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"data": [tr("loyalty.liability.available"), tr("loyalty.liability.pending")], "top": 0},
        "grid": {"left": 8, "right": 16, "top": 32, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": months, "axisLabel": {"rotate": 45 if len(months) > 12 else 0}},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "name": tr("loyalty.liability.available"),
                "type": "bar",
                "stack": "points",
                "data": [b.available_points for b in report.by_expiry_month],
                "itemStyle": {"color": COLORS["available"]},
                "barMaxWidth": 36,
            },
            {
                "name": tr("loyalty.liability.pending"),
                "type": "bar",
                "stack": "points",
                "data": [b.pending_points for b in report.by_expiry_month],
                "itemStyle": {"color": COLORS["pending"]},
                "barMaxWidth": 36,
            },
        ],
    }


def flow_chart(report: LiabilityReport) -> dict[str, Any]:
    """Points issued, redeemed, expired and reversed per month over the last year."""
    kinds = ("issued", "redeemed", "expired", "reversed")
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [tr(f"loyalty.liability.{k}") for k in kinds], "top": 0},
        "grid": {"left": 8, "right": 16, "top": 32, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": [month_label(f.month) for f in report.history]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "name": tr(f"loyalty.liability.{k}"),
                "type": "bar",
                "data": [getattr(f, k) for f in report.history],
                "itemStyle": {"color": COLORS[k]},
                "barMaxWidth": 18,
            }
            for k in kinds
        ],
    }


def figure(label: str, value: str, marker: str, hint: str | None = None) -> None:
    with ui.card().classes("min-w-44 flex-1 gap-0"):
        ui.label(label).classes("text-sm text-slate-500")
        ui.label(value).classes("text-2xl font-semibold").mark(marker)
        if hint:
            ui.label(hint).classes("text-xs text-slate-500")


def render_liability(report: LiabilityReport) -> None:
    c = report.currency
    b = report.breakage
    with ui.row().classes("w-full gap-4"):
        figure(
            tr("loyalty.liability.outstanding"),
            num(report.outstanding_points),
            "liability-points",
            tr("loyalty.liability.of_which_pending", points=num(report.pending_points)),
        )
        figure(
            tr("loyalty.liability.value"),
            money(report.outstanding_value, c),
            "liability-value",
            tr("loyalty.liability.point_value", value=point_value(report.point_value, c)),
        )
        figure(
            tr("loyalty.liability.breakage"),
            percent(b.rate),
            "liability-breakage",
            tr(f"loyalty.liability.breakage_{b.source}"),
        )
        figure(tr("loyalty.liability.expected_cost"), money(report.expected_cost, c), "liability-cost")
    if b.source == "default":
        notice(tr("loyalty.liability.breakage_default_note", moved=num(b.moved_points), min=num(b.min_points)))
    if report.debt_points or report.overdue_points:
        with ui.row().classes("w-full gap-4"):
            figure(
                tr("loyalty.liability.debt"),
                num(report.debt_points),
                "liability-debt",
                tr(
                    "loyalty.liability.debt_accounts",
                    accounts=num(report.debt_accounts),
                    value=money(report.debt_value, c),
                ),
            )
            figure(
                tr("loyalty.liability.overdue"),
                num(report.overdue_points),
                "liability-overdue",
                tr("loyalty.liability.overdue_hint"),
            )
    with card(tr("loyalty.liability.by_month"), marker="liability-months"):
        if not report.by_expiry_month:
            ui.label(tr("loyalty.liability.none")).classes("text-sm text-slate-500")
        else:
            ui.echart(expiry_chart(report)).classes("w-full h-80").mark("expiry-chart")
            columns = [
                {"name": n, "label": tr(f"loyalty.liability.{n}"), "field": n, "align": "right"}
                for n in ("month", "available", "pending", "points", "value_col", "cost_col")
            ]
            columns[0]["align"] = "left"
            rows = [
                {
                    "month": month_label(x.month),
                    "available": num(x.available_points),
                    "pending": num(x.pending_points),
                    "points": num(x.points),
                    "value_col": money(x.value, c),
                    "cost_col": money(x.expected_cost, c),
                }
                for x in report.by_expiry_month
            ]
            ui.table(rows=rows, columns=columns, row_key="month").props("flat dense").classes("w-full").mark(
                "liability-table"
            )
    with card(tr("loyalty.liability.flows"), marker="liability-flows"):
        ui.echart(flow_chart(report)).classes("w-full h-72").mark("flow-chart")
    zone = get_timezone_location(report.timezone, locale=formatting.locale_of(language()))
    ui.label(tr("loyalty.liability.as_of", time=local_time(report.as_of), zone=zone)).classes("text-xs text-slate-500")


def liability_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with loyalty_frame(principal, PATH):
        page_title(tr("loyalty.liability.title"))
        result = perform(lambda s, p: liability.liability(s, p), principal=principal, write=False)
        if result.value is None:
            notice(unavailable_text(result.error))
            return None
        render_liability(result.value)
    return None
