"""Data-quality page: completeness bands, missing and invalid fields, stale records and the
duplicate rate, from the latest check (or computed now when there is none), and past checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.session import guard, tr
from guanxi.console.widgets import card, facts, local_time, notice
from guanxi.customers import quality
from guanxi.kit.principal import Principal


@dataclass(frozen=True)
class QualityView:
    report: dict[str, Any]
    taken_at: Any  # None when computed for this page view
    history: list[tuple[Any, int, int]]  # (taken_at, customers, average score)


def load_view(session: Session, principal: Principal) -> QualityView:
    past = quality.snapshots(session, principal, limit=30)
    history = [(s.taken_at, s.customers, s.average_score) for s in past]
    if past:
        return QualityView(past[0].report, past[0].taken_at, history)
    return QualityView(quality.report(session, principal), None, history)


def _percent(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.1%})" if whole else str(part)


def render(principal: Principal, view: QualityView) -> None:
    report = view.report
    total = int(report["customers"])
    with ui.row().classes("w-full items-center gap-3"):
        ui.label(tr("quality.title")).classes("text-2xl font-medium")
        if view.taken_at is not None:
            ui.label(f"{tr('quality.taken_at')}: {local_time(view.taken_at)}").classes("text-sm text-slate-500")
        ui.space()
        if is_allowed(principal, "events", "read"):
            ui.button(
                tr("quality.event_types"), icon="schema", on_click=lambda: ui.navigate.to("/quality/event-types")
            ).props("flat no-caps").mark("event-types")
        if is_allowed(principal, "quality", "create"):
            ui.button(tr("quality.run"), icon="fact_check", on_click=run_check).props("unelevated no-caps").mark(
                "quality-run"
            )
    with ui.row().classes("w-full gap-4 items-start max-md:flex-wrap"):
        with ui.column().classes("flex-1 min-w-72 gap-4"):
            with card(tr("quality.title"), marker="quality-summary"):
                facts(
                    [
                        (tr("quality.customers"), str(total)),
                        (tr("quality.average"), f"{report['average_score']}/100"),
                        (tr("quality.stale"), _percent(int(report["stale"]), total)),
                        (tr("quality.duplicates"), _percent(int(report["duplicate_customers"]), total)),
                    ]
                )
            with card(tr("quality.bands"), marker="quality-bands"):
                facts([(tr(f"quality.band.{b}"), _percent(int(n), total)) for b, n in report["score_bands"].items()])
        with ui.column().classes("flex-1 min-w-72 gap-4"):
            with card(tr("quality.missing"), marker="quality-missing"):
                rows = sorted(report["missing"].items(), key=lambda kv: -int(kv[1]))
                facts([(tr(f"c360.field.{name}"), _percent(int(n), total)) for name, n in rows])
            with card(tr("quality.invalid"), marker="quality-invalid"):
                facts(
                    [(tr(f"quality.invalid.{name}"), _percent(int(n), total)) for name, n in report["invalid"].items()]
                )
        with ui.column().classes("flex-1 min-w-64 gap-4"), card(tr("quality.history"), marker="quality-history"):
            if not view.history:
                ui.label(tr("quality.no_checks")).classes("text-sm text-slate-500")
            for taken_at, customers, average in view.history:
                ui.label(f"{local_time(taken_at)} · {customers} · {average}/100").classes("text-sm")


def run_check() -> None:
    result = perform(quality.run_check)
    if result.ok:
        ui.notify(tr("quality.checked"), type="positive")
        ui.navigate.reload()


def quality_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/quality"):
        result = perform(lambda s, p: load_view(s, p), principal=principal, write=False)
        if result.value is None:
            notice(tr("error.permission_denied"))
            return None
        render(principal, result.value)
    return None
