"""Home: for roles that read analytics, the business figures of this month and last
(`analytics_home`); then, for everyone, customers in the caller's scope, new this week, top cities
and regions."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.pages.analytics_home import HomeDashboard, can_read
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import card, notice, page_title, place
from guanxi.customers import listing
from guanxi.customers.schemas import CustomerStats
from guanxi.kit import formatting


def bar_chart(rows: list[tuple[str, int]], *, horizontal: bool = False) -> dict[str, Any]:
    """ECharts options for a simple bar chart of (label, count) pairs."""
    labels = [label for label, _ in rows]
    values = [count for _, count in rows]
    category: dict[str, Any] = {"type": "category", "data": labels, "axisLabel": {"interval": 0}}
    value_axis: dict[str, Any] = {"type": "value", "minInterval": 1}
    if horizontal:
        category = {**category, "inverse": True}  # largest first, at the top
    return {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 16, "top": 16, "bottom": 8, "containLabel": True},
        "xAxis": value_axis if horizontal else category,
        "yAxis": category if horizontal else value_axis,
        "series": [{"type": "bar", "data": values, "itemStyle": {"color": "#5898d4"}, "barMaxWidth": 36}],
    }


def _figure(label: str, value: int, marker: str) -> None:
    with ui.card().classes("min-w-48 flex-1"):
        ui.label(label).classes("text-sm text-slate-500")
        ui.label(formatting.number(value, language())).classes("text-3xl font-semibold").mark(marker)


def home_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/"):
        page_title(tr("home.title"))
        if can_read(principal):
            HomeDashboard(principal).build()
            ui.label(tr("analytics.home.base")).classes("text-lg font-medium").mark("home-base-title")
        result = perform(lambda s, p: listing.stats(s, p), principal=principal, write=False)
        stats: CustomerStats | None = result.value
        if stats is None:
            return None
        with ui.row().classes("w-full gap-4"):
            _figure(tr("home.total"), stats.total, "home-total")
            _figure(tr("home.new_this_week"), stats.new_this_week, "home-new")
        if stats.total == 0:
            notice(tr("home.empty"))
            return None
        with ui.row().classes("w-full gap-4 items-stretch"):
            with card(tr("home.top_cities"), marker="home-cities") as box:
                box.classes("flex-[2] min-w-80")
                cities = [(place(city), count) for city, count in stats.by_city]
                ui.echart(bar_chart(cities)).classes("w-full h-72").mark("city-chart")
            with card(tr("home.by_region"), marker="home-regions") as box:
                box.classes("flex-1 min-w-64")
                if stats.by_region:
                    ui.echart(bar_chart(stats.by_region, horizontal=True)).classes("w-full h-72").mark("region-chart")
                else:
                    ui.label(tr("home.no_regions")).classes("text-sm text-slate-500")
    return None
