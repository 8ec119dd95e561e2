"""Data-quality page: the headline figures, the completeness bands and the missing fields as charts,
the invalid values, and the trend of the daily checks (average completeness, duplicate and stale
shares) from the snapshots the scheduled check keeps (`data_quality_snapshots`, one a day; checks
run by hand add more, a day's last counts). Without any check yet, the figures are computed for
this page view and the trend says it starts with the first check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.config import get_settings
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.pages.runs import follow_in_dialog
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import card, local_time, notice, page_title
from guanxi.customers import quality
from guanxi.customers.quality_models import QualitySnapshot
from guanxi.jobs import scans
from guanxi.kit import clock, formatting
from guanxi.kit.db import get_database
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun

TREND_DAYS = 90
BAND_COLORS = {"low": "#ef4444", "mid": "#f59e0b", "high": "#10b981"}
CHART_FONT = '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif'


@dataclass(frozen=True)
class QualityView:
    report: dict[str, Any]
    taken_at: Any  # None when computed for this page view
    trend: list[QualitySnapshot]  # a day's last check, oldest first


def load_view(session: Session, principal: Principal) -> QualityView:
    trend = quality.daily_trend(session, principal, days=TREND_DAYS)
    latest = quality.snapshots(session, principal, limit=1)
    if latest:
        return QualityView(latest[0].report, latest[0].taken_at, trend)
    return QualityView(quality.report(session, principal), None, trend)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _figure(label: str, value: str, detail: str, marker: str) -> None:
    with ui.card().classes("flex-1 min-w-48 gap-1").mark(marker):
        ui.label(label).classes("text-sm text-slate-500")
        ui.label(value).classes("text-2xl font-semibold text-slate-800").mark(f"{marker}-value")
        ui.label(detail).classes("text-xs text-slate-500")


def _base(options: dict[str, Any]) -> dict[str, Any]:
    return {"textStyle": {"fontFamily": CHART_FONT}, "animation": False, **options}


def bands_chart(report: dict[str, Any]) -> dict[str, Any]:
    bands = report["score_bands"]
    data: list[dict[str, Any]] = [
        {"name": tr(f"quality.band.{b}"), "value": int(bands[b]), "itemStyle": {"color": BAND_COLORS[b]}}
        for b in ("low", "mid", "high")
    ]
    for item in data:
        if not item["value"]:  # an empty band stays in the legend, without a "0%" label on the ring
            item.update(label={"show": False}, labelLine={"show": False})
    return _base(
        {
            "tooltip": {
                "trigger": "item",
                "formatter": "{b}：{c}（{d}%）" if language() != "en" else "{b}: {c} ({d}%)",
            },
            "legend": {"bottom": 0},
            "series": [
                {
                    "type": "pie",
                    "radius": ["40%", "68%"],
                    "center": ["50%", "44%"],
                    "label": {"position": "inside", "formatter": "{d}%", "color": "#fff"},
                    "data": data,
                }
            ],
        }
    )


def missing_chart(report: dict[str, Any]) -> dict[str, Any]:
    """Missing fields as shares of the base, the most often missing on top."""
    total = int(report["customers"])
    rows = sorted(report["missing"].items(), key=lambda kv: int(kv[1]))
    return _base(
        {
            "grid": {"left": 8, "right": 48, "top": 8, "bottom": 8, "containLabel": True},
            "xAxis": {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}},
            "yAxis": {"type": "category", "data": [tr(f"c360.field.{name}") for name, _ in rows]},
            "tooltip": {"trigger": "axis"},
            "series": [
                {
                    "type": "bar",
                    "name": tr("quality.missing_share"),
                    "data": [round(100 * _share(int(n), total), 1) for _, n in rows],
                    "itemStyle": {"color": "#3b82f6"},
                    "label": {"show": True, "position": "right", "formatter": "{c}%"},
                }
            ],
        }
    )


def trend_chart(trend: list[QualitySnapshot]) -> dict[str, Any]:
    lang = language()
    days = [formatting.day(local_day(s), lang) for s in trend]
    average = [int(s.average_score) for s in trend]
    duplicates = [round(100 * float(s.report.get("duplicate_rate", 0.0)), 2) for s in trend]
    stale = [round(100 * _share(int(s.report.get("stale", 0)), int(s.customers)), 2) for s in trend]
    return _base(
        {
            "grid": {"left": 8, "right": 8, "top": 40, "bottom": 8, "containLabel": True},
            "legend": {"top": 0},
            "tooltip": {"trigger": "axis"},
            "xAxis": {"type": "category", "data": days},
            "yAxis": [
                {"type": "value", "min": 0, "max": 100},
                {"type": "value", "min": 0, "axisLabel": {"formatter": "{value}%"}, "splitLine": {"show": False}},
            ],
            "series": [
                {"type": "line", "name": tr("quality.average"), "data": average, "smooth": True},
                {"type": "line", "name": tr("quality.duplicate_rate"), "data": duplicates, "yAxisIndex": 1},
                {"type": "line", "name": tr("quality.stale_rate"), "data": stale, "yAxisIndex": 1},
            ],
        }
    )


def local_day(snapshot: QualitySnapshot) -> date:
    zone = ZoneInfo(get_settings().timezone)
    return clock.as_utc(snapshot.taken_at).astimezone(zone).date()


def render(principal: Principal, view: QualityView) -> None:
    report, lang = view.report, language()
    total = int(report["customers"])
    with ui.row().classes("w-full items-center gap-3"):
        page_title(tr("quality.title"))
        if view.taken_at is not None:
            ui.label(tr("quality.as_of", at=local_time(view.taken_at))).classes("text-sm text-slate-500").mark(
                "quality-taken-at"
            )
        else:
            ui.label(tr("quality.computed_now")).classes("text-sm text-slate-500")
        ui.space()
        if is_allowed(principal, "events", "read"):
            ui.button(
                tr("quality.event_types"), icon="schema", on_click=lambda: ui.navigate.to("/quality/event-types")
            ).props("flat no-caps").mark("event-types")
        if is_allowed(principal, "quality", "create"):
            ui.button(tr("quality.run"), icon="fact_check", on_click=run_check).props("unelevated no-caps").mark(
                "quality-run"
            )
    with ui.row().classes("w-full gap-4 max-md:flex-wrap").mark("quality-summary"):
        _figure(tr("quality.customers"), formatting.number(total, lang), tr("quality.customers_hint"), "quality-total")
        _figure(
            tr("quality.average"),
            tr("quality.score", score=formatting.number(report["average_score"], lang)),
            tr("quality.average_hint"),
            "quality-average",
        )
        dup = int(report["duplicate_customers"])
        _figure(
            tr("quality.duplicates"),
            formatting.number(dup, lang),
            tr("quality.share_of_base", share=formatting.percent(_share(dup, total), lang)),
            "quality-duplicates",
        )
        stale = int(report["stale"])
        _figure(
            tr("quality.stale"),
            formatting.number(stale, lang),
            tr("quality.share_of_base", share=formatting.percent(_share(stale, total), lang)),
            "quality-stale",
        )
    with ui.row().classes("w-full gap-4 items-stretch max-md:flex-wrap"):
        with ui.column().classes("flex-1 min-w-72"), card(tr("quality.bands"), marker="quality-bands"):
            ui.echart(bands_chart(report)).classes("w-full h-64").mark("quality-bands-chart")
        with ui.column().classes("flex-[2] min-w-72"), card(tr("quality.missing"), marker="quality-missing"):
            ui.echart(missing_chart(report)).classes("w-full h-64").mark("quality-missing-chart")
    with ui.row().classes("w-full gap-4 items-stretch max-md:flex-wrap"):
        with ui.column().classes("flex-[2] min-w-72"), card(tr("quality.trend"), marker="quality-trend"):
            if not view.trend:
                ui.label(tr("quality.no_checks")).classes("text-sm text-slate-500")
            if len(view.trend) < 2:
                ui.label(tr("quality.trend_empty")).classes("text-sm text-slate-500").mark("quality-trend-empty")
            else:
                ui.echart(trend_chart(view.trend)).classes("w-full h-72").mark("quality-trend-chart")
        with ui.column().classes("flex-1 min-w-64"), card(tr("quality.invalid"), marker="quality-invalid"):
            for name, n in report["invalid"].items():
                with ui.row().classes("w-full items-baseline justify-between"):
                    ui.label(tr(f"quality.invalid.{name}")).classes("text-sm text-slate-600")
                    ui.label(formatting.number(int(n), lang)).classes("font-medium").mark(f"quality-invalid-{name}")


def run_check() -> None:
    """The check goes over every customer: a background run the page follows (jobs.scans)."""
    database = get_database()
    result = perform(lambda s, p: scans.start_quality_check(s, p, database).id)
    if result.value is not None:
        follow_in_dialog(result.value, scans.get_quality_run, tr("quality.run"), _checked)


def _checked(run: BackgroundRun) -> None:
    ui.notify(tr("quality.checked"), type="positive")
    ui.navigate.reload()


def quality_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/quality"):
        result = perform(lambda s, p: load_view(s, p), principal=principal, write=False, notify=False)
        if result.value is None:
            notice(tr("error.permission_denied"))
            return None
        render(principal, result.value)
    return None
