"""ECharts options shared by the analytics pages (the dashboard, the home
figures, the customer's scores).

Every builder takes a frame from `guanxi.analytics.queries` and returns plain options: names and
axis categories in the reader's language, figures as Babel writes them (a cell's label carries
its own formatted text, since ECharts' own formatters know no locale). Each chart has ECharts'
save-as-image button (it works offline), named after the chart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import pandas as pd

from guanxi.analytics.rfm import SEGMENTS
from guanxi.console.pages.analytics_labels import is_missing, number, percent, segment_name, short_period, stage_name
from guanxi.console.session import tr

CHART_FONT = '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif'
BLUE, GREEN, AMBER, RED, SLATE = "#3b82f6", "#10b981", "#f59e0b", "#ef4444", "#94a3b8"
HEAT = ["#eff6ff", "#bfdbfe", "#60a5fa", "#2563eb", "#1e3a8a"]


# -- options -------------------------------------------------------------------------------------


def base(options: dict[str, Any], export_name: str | None = None) -> dict[str, Any]:
    """Common options: the font, no animation (screenshots and tests see the end state), and the
    save-as-image button when `export_name` names the file."""
    out: dict[str, Any] = {"textStyle": {"fontFamily": CHART_FONT}, "animation": False, **options}
    if export_name:
        out["toolbox"] = {
            "right": 4,
            "top": 0,
            "feature": {
                "saveAsImage": {
                    "title": tr("analytics.dash.export.png"),
                    "name": export_name,
                    "pixelRatio": 2,
                    "backgroundColor": "#ffffff",
                }
            },
        }
    return out


def _clean(values: Iterable[object], decimals: int = 2) -> list[float | None]:
    """Numbers for a series; unknown ones as gaps (null), never NaN."""
    out: list[float | None] = []
    for value in values:
        if value is None or is_missing(value):
            out.append(None)
        else:
            out.append(round(float(value), decimals))  # type: ignore[arg-type]
    return out


def sparkline(values: Sequence[object], *, color: str = BLUE) -> dict[str, Any]:
    """A tiny line of the last periods, no axes."""
    return base(
        {
            "grid": {"left": 2, "right": 2, "top": 4, "bottom": 2},
            "xAxis": {"type": "category", "show": False, "boundaryGap": False},
            "yAxis": {"type": "value", "show": False, "scale": True},
            "series": [
                {
                    "type": "line",
                    "data": _clean(values, 4),
                    "symbol": "none",
                    "lineStyle": {"width": 1.5, "color": color},
                    "areaStyle": {"color": color, "opacity": 0.08},
                }
            ],
        }
    )


def period_axis(starts: Iterable[date], period: str, as_of: date | None) -> list[str]:
    """The periods' labels; the last one says "so far" when the run's date falls inside it."""
    days = list(starts)
    axis = [short_period(d, period) for d in days]
    if days and as_of is not None and _unfinished(days[-1], period, as_of):
        axis[-1] = tr("analytics.dash.so_far", period=axis[-1])
    return axis


def _unfinished(start: date, period: str, as_of: date) -> bool:
    if period == "week":
        return (as_of - start).days < 6
    following = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return (following - as_of).days > 1


def kpi_trend(kpis: pd.DataFrame, period: str, export_name: str, as_of: date | None = None) -> dict[str, Any]:
    """Revenue (bars) and orders and buyers (lines) per period."""
    axis = period_axis(kpis["period"], period, as_of)
    return base(
        {
            "grid": {"left": 8, "right": 8, "top": 56, "bottom": 8, "containLabel": True},
            "legend": {"top": 24},
            "tooltip": {"trigger": "axis"},
            "xAxis": {"type": "category", "data": axis},
            "yAxis": [{"type": "value"}, {"type": "value", "splitLine": {"show": False}, "minInterval": 1}],
            "series": [
                {
                    "type": "bar",
                    "name": tr("analytics.dash.kpi.revenue"),
                    "data": _clean(kpis["revenue"]),
                    "itemStyle": {"color": "#93c5fd"},
                    "barMaxWidth": 28,
                },
                {
                    "type": "line",
                    "name": tr("analytics.dash.kpi.orders"),
                    "data": _clean(kpis["orders"], 0),
                    "yAxisIndex": 1,
                    "itemStyle": {"color": AMBER},
                },
                {
                    "type": "line",
                    "name": tr("analytics.dash.kpi.buyers"),
                    "data": _clean(kpis["buyers"], 0),
                    "yAxisIndex": 1,
                    "itemStyle": {"color": GREEN},
                },
            ],
        },
        export_name,
    )


def rate_trend(kpis: pd.DataFrame, period: str, export_name: str, as_of: date | None = None) -> dict[str, Any]:
    """Repeat, retention and churn rates per period, in percent."""
    axis = period_axis(kpis["period"], period, as_of)

    def series(column: str, color: str) -> dict[str, Any]:
        return {
            "type": "line",
            "name": tr(f"analytics.dash.kpi.{column}"),
            "data": [None if v is None else round(100 * v, 2) for v in _clean(kpis[column], 4)],
            "itemStyle": {"color": color},
            "connectNulls": False,
        }

    return base(
        {
            "grid": {"left": 8, "right": 8, "top": 56, "bottom": 8, "containLabel": True},
            "legend": {"top": 24},
            "tooltip": {"trigger": "axis", ":valueFormatter": "(v) => (v == null ? '—' : v + '%')"},
            "xAxis": {"type": "category", "data": axis},
            "yAxis": {"type": "value", "min": 0, "axisLabel": {"formatter": "{value}%"}},
            "series": [
                series("repeat_rate", BLUE),
                series("retention_rate", GREEN),
                series("churn_rate", RED),
            ],
        },
        export_name,
    )


def heat_cell(x: int, y: int, value: float, text: str, *, dark: bool = False) -> dict[str, Any]:
    """A heatmap cell labelled with its formatted figure, white on the darker colors."""
    color = "#ffffff" if dark else "#0f172a"
    return {"value": [x, y, value], "label": {"show": True, "formatter": text, "color": color}}


def _dark(value: float, top: float) -> bool:
    return top > 0 and value / top > 0.55


def heatmap(
    x_names: list[str],
    y_names: list[str],
    cells: list[dict[str, Any]],
    export_name: str,
    *,
    max_value: float | None = None,
    wrap: int | None = None,
) -> dict[str, Any]:
    """`wrap`: the width (px) long column names wrap within instead of overlapping."""
    values = [float(c["value"][2]) for c in cells] or [0.0]
    x_label: dict[str, Any] = {"interval": 0}
    if wrap:
        x_label.update(width=wrap, overflow="break", lineHeight=14)
    return base(
        {
            "grid": {"left": 8, "right": 16, "top": 40, "bottom": 8, "containLabel": True},
            "tooltip": {"show": False},
            "xAxis": {
                "type": "category",
                "data": x_names,
                "position": "top",
                "splitArea": {"show": True},
                "axisLabel": x_label,
            },
            "yAxis": {
                "type": "category",
                "data": y_names,
                "inverse": True,
                "splitArea": {"show": True},
                "axisLabel": {"interval": 0},
            },
            "visualMap": {
                "show": False,
                "min": 0,
                "max": max_value if max_value is not None else max(max(values), 1.0),
                "inRange": {"color": HEAT},
            },
            "series": [
                {
                    "type": "heatmap",
                    "data": cells,
                    "label": {"show": True},
                }
            ],
        },
        export_name,
    )


def rfm_heatmap(grid: pd.DataFrame, export_name: str) -> dict[str, Any]:
    """Customers per (R, F) cell: R from 5 (bought lately) at the top, F from 1 to 5 across."""
    scores = [1, 2, 3, 4, 5]
    top = float(grid["customers"].max()) if len(grid) else 0.0
    cells = [
        heat_cell(
            int(row.f_score) - 1,
            5 - int(row.r_score),
            float(row.customers),
            number(int(row.customers)),
            dark=_dark(float(row.customers), top),
        )
        for row in grid.itertuples()
    ]
    return heatmap(
        [tr("analytics.dash.rfm.f_score", score=s) for s in scores],
        [tr("analytics.dash.rfm.r_score", score=s) for s in reversed(scores)],
        cells,
        export_name,
    )


def bars(
    names: list[str], values: list[float], export_name: str, *, texts: list[str] | None = None, color: str = BLUE
) -> dict[str, Any]:
    """Horizontal bars, the first name on top, each bar labelled with its formatted figure."""
    data = [
        {"value": v, "label": {"show": True, "position": "right", "formatter": t}}
        for v, t in zip(values, texts or [number(v) for v in values], strict=True)
    ]
    return base(
        {
            "grid": {"left": 8, "right": 64, "top": 32, "bottom": 8, "containLabel": True},
            "tooltip": {"show": False},
            "xAxis": {"type": "value", "minInterval": 1},
            "yAxis": {"type": "category", "data": names, "inverse": True, "axisLabel": {"interval": 0}},
            "series": [{"type": "bar", "data": data, "itemStyle": {"color": color}, "barMaxWidth": 22}],
        },
        export_name,
    )


def segment_bars(sizes: pd.DataFrame, export_name: str) -> dict[str, Any]:
    names = [segment_name(code) for code in sizes["rfm_segment"]]
    counts = [int(c) for c in sizes["customers"]]
    texts = [f"{number(c)} ({percent(s)})" for c, s in zip(counts, sizes["share"], strict=True)]
    return bars(names, [float(c) for c in counts], export_name, texts=texts)


STAGE_COLORS = {
    "prospect": SLATE,
    "new": "#60a5fa",
    "active": GREEN,
    "at_risk": AMBER,
    "dormant": "#f97316",
    "churned": RED,
    "won_back": "#8b5cf6",
}


def lifecycle_bars(stages: pd.DataFrame, export_name: str) -> dict[str, Any]:
    """Customers per lifecycle stage, in the stages' own order (a funnel from prospect to churned,
    then won back), each bar with its count and share."""
    counts = [int(c) for c in stages["customers"]]
    total = sum(counts) or 1
    data = [
        {
            "value": count,
            "itemStyle": {"color": STAGE_COLORS.get(str(code), BLUE)},
            "label": {"show": True, "position": "right", "formatter": f"{number(count)} ({percent(count / total)})"},
        }
        for code, count in zip(stages["lifecycle_stage"], counts, strict=True)
    ]
    return base(
        {
            "grid": {"left": 8, "right": 88, "top": 32, "bottom": 8, "containLabel": True},
            "tooltip": {"show": False},
            "xAxis": {"type": "value", "minInterval": 1},
            "yAxis": {
                "type": "category",
                "data": [stage_name(code) for code in stages["lifecycle_stage"]],
                "inverse": True,
                "axisLabel": {"interval": 0},
            },
            "series": [{"type": "bar", "data": data, "barMaxWidth": 22}],
        },
        export_name,
    )


def segment_order(matrix: pd.DataFrame) -> pd.DataFrame:
    """The migration matrix with its rows and columns in the segments' order, "not scored" last."""
    order = [*SEGMENTS, "other", "none"]
    rank = {code: i for i, code in enumerate(order)}

    def ordered(codes: Iterable[object]) -> list[object]:
        return sorted(codes, key=lambda c: (rank.get(str(c), len(order)), str(c)))

    return matrix.loc[ordered(matrix.index), ordered(matrix.columns)]


def migration_heatmap(matrix: pd.DataFrame, export_name: str) -> dict[str, Any]:
    """Customers from each segment (rows: the earlier date) to each segment (columns: the later)."""
    matrix = segment_order(matrix)
    rows = list(matrix.index)
    columns = list(matrix.columns)
    top = float(matrix.to_numpy().max()) if matrix.size else 0.0
    cells = [
        heat_cell(
            j, i, float(matrix.iat[i, j]), number(int(matrix.iat[i, j])), dark=_dark(float(matrix.iat[i, j]), top)
        )
        for i in range(len(rows))
        for j in range(len(columns))
        if int(matrix.iat[i, j])
    ]
    return heatmap(
        [segment_name(c) for c in columns],
        [segment_name(r) for r in rows],
        cells,
        export_name,
        wrap=80,
    )


def cohort_heatmap(shares: pd.DataFrame, period: str, export_name: str) -> dict[str, Any]:
    """The retention triangle: a row per cohort (its size beside its name), a column per period
    since the first purchase; periods not yet lived are left blank."""
    steps = [c for c in shares.columns if c != "customers"]
    y_names = [
        tr("analytics.dash.cohort.row", cohort=short_period(d, period), customers=number(int(n)))
        for d, n in zip(shares.index, shares["customers"], strict=True)
    ]
    cells = []
    for i, cohort in enumerate(shares.index):
        for j, step in enumerate(steps):
            value = shares.at[cohort, step]
            if value is None or is_missing(value):
                continue
            share = round(float(value) * 100, 2)
            cells.append(heat_cell(j, i, share, percent(float(value), 0), dark=_dark(share, 100.0)))
    unit = "analytics.dash.cohort.month_n" if period == "month" else "analytics.dash.cohort.week_n"
    return heatmap([tr(unit, n=int(s)) for s in steps], y_names, cells, export_name, max_value=100.0)


def clv_histogram(distribution: pd.DataFrame, export_name: str) -> dict[str, Any]:
    """Customers per CLV band; the last band holds everyone above it."""
    last = len(distribution) - 1
    names = []
    for i, (low, high) in enumerate(zip(distribution["low"], distribution["high"], strict=True)):
        low_text, high_text = number(round(float(low))), number(round(float(high)))
        if i == last:
            names.append(tr("analytics.dash.clv.band_above", low=low_text))
        else:
            names.append(tr("analytics.dash.clv.band", low=low_text, high=high_text))
    return base(
        {
            "grid": {"left": 8, "right": 8, "top": 40, "bottom": 28, "containLabel": True},
            "tooltip": {"trigger": "axis"},
            "xAxis": {
                "type": "category",
                "data": names,
                "axisLabel": {"rotate": 45, "fontSize": 10},
                "name": tr("analytics.dash.clv.axis"),
                "nameLocation": "middle",
                "nameGap": 64,
            },
            "yAxis": {"type": "value", "minInterval": 1, "name": tr("analytics.dash.customers")},
            "series": [
                {
                    "type": "bar",
                    "name": tr("analytics.dash.customers"),
                    "data": [int(c) for c in distribution["customers"]],
                    "itemStyle": {"color": "#8b5cf6"},
                    "barCategoryGap": "10%",
                }
            ],
        },
        export_name,
    )
