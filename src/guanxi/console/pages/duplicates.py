"""Duplicate review: the queue of probable duplicates, a side by side comparison (masked per
role) with merge (staff choose who stays) or dismiss, and the merge history with undo."""

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
from guanxi.console.widgets import card, local_time, notice, show
from guanxi.customers import merge as merges
from guanxi.customers import service as customers
from guanxi.customers.normalize import display_name
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import Principal

PATH = "/duplicates"
FIELDS = ("name", "member_no", "gender", "birthday", "province", "city", "phone", "email", "source_channel", "region")


@dataclass(frozen=True)
class Pair:
    id: str
    a_id: str
    b_id: str
    a_name: str
    b_name: str
    score: float
    matched: dict[str, Any]


@dataclass(frozen=True)
class HistoryRow:
    id: str
    created_at: Any
    survivor: str
    merged: str
    reason: str
    status: str


@dataclass(frozen=True)
class View:
    pairs: list[Pair]
    history: list[HistoryRow]


def _name(session: Session, customer_id: str) -> str:
    from guanxi.customers.models import Customer

    row = session.get(Customer, customer_id)
    if row is None:
        return customer_id
    shown = display_name(row.name, row.member_no)
    return shown if shown == row.member_no else f"{shown} ({row.member_no})"


def load_view(session: Session, principal: Principal) -> View:
    page = merges.list_candidates(session, principal, PageRequest(limit=50, sort="score"))
    pairs = [
        Pair(
            c.id,
            c.customer_a_id,
            c.customer_b_id,
            _name(session, c.customer_a_id),
            _name(session, c.customer_b_id),
            c.score,
            dict(c.matched or {}),
        )
        for c in page.items
    ]
    history = [
        HistoryRow(m.id, m.created_at, _name(session, m.survivor_id), _name(session, m.merged_id), m.reason, m.status)
        for m in merges.list_merges(session, principal, PageRequest(limit=50)).items
    ]
    return View(pairs, history)


def load_comparison(session: Session, principal: Principal, pair: Pair) -> dict[str, dict[str, Any]]:
    """Both profiles as shown to this role (masked values stay masked)."""
    sides = {}
    for side, cid in (("a", pair.a_id), ("b", pair.b_id)):
        detail = customers.customer_detail(session, principal, cid)
        sides[side] = detail.model_dump()
    return sides


def _matched(matched: dict[str, Any]) -> str:
    return ", ".join(f"{tr(f'merge.field.{k}')}: {tr(f'merge.level.{v}')}" for k, v in sorted(matched.items()))


def render(principal: Principal, view: View) -> None:
    ui.label(tr("merge.title")).classes("text-2xl font-medium")
    compare_area = ui.column().classes("w-full")
    with card(tr("merge.queue"), marker="merge-queue"):
        if not view.pairs:
            ui.label(tr("merge.queue_empty")).classes("text-sm text-slate-500").mark("merge-queue-empty")
        for i, pair in enumerate(view.pairs):
            with ui.row().classes("w-full items-center gap-3 border-b py-1").mark(f"merge-pair-{i}"):
                ui.label(f"{pair.a_name} ⇄ {pair.b_name}").classes("font-medium")
                ui.label(f"{tr('merge.score')} {pair.score:.1%}").classes("text-sm")
                ui.label(_matched(pair.matched)).classes("text-sm text-slate-500")
                ui.space()
                ui.button(
                    tr("merge.compare"),
                    icon="compare_arrows",
                    on_click=lambda _, p=pair: show_comparison(principal, compare_area, p),
                ).props("flat dense no-caps").mark(f"merge-compare-{i}")
    with card(tr("merge.history"), marker="merge-history"):
        if not view.history:
            ui.label(tr("merge.history_empty")).classes("text-sm text-slate-500")
        for i, row in enumerate(view.history):
            with ui.row().classes("w-full items-center gap-3 border-b py-1").mark(f"merge-history-{i}"):
                ui.label(local_time(row.created_at)).classes("text-sm")
                ui.label(f"{row.merged} → {row.survivor}")
                ui.label(tr(f"merge.reason.{row.reason}")).classes("text-sm text-slate-500")
                ui.label(tr(f"merge.status.{row.status}")).classes("text-sm")
                ui.space()
                if row.status == "merged" and is_allowed(principal, "merges", "delete"):
                    ui.button(tr("merge.undo"), icon="undo", on_click=lambda _, m=row.id: undo(m)).props(
                        "flat dense no-caps color=negative"
                    ).mark(f"merge-undo-{i}")


def show_comparison(principal: Principal, area: ui.column, pair: Pair) -> None:
    result = perform(lambda s, p: load_comparison(s, p, pair))
    if result.value is None:
        return
    sides = result.value
    area.clear()
    with area, card(tr("merge.comparison"), marker="merge-comparison"):
        with ui.grid(columns=3).classes("w-full gap-x-6 gap-y-1"):
            ui.label("")
            ui.label(tr("merge.side_a")).classes("font-medium")
            ui.label(tr("merge.side_b")).classes("font-medium")
            for name in FIELDS:
                a, b = sides["a"].get(name), sides["b"].get(name)
                style = "text-amber-700" if a != b else ""
                ui.label(tr(f"merge.field.{name}")).classes("text-sm text-slate-500")
                ui.label(show(a)).classes(style).mark(f"merge-a-{name}")
                ui.label(show(b)).classes(style).mark(f"merge-b-{name}")
        with ui.row().classes("gap-2 pt-2"):
            if is_allowed(principal, "merges", "create"):
                ui.button(tr("merge.keep_a"), on_click=lambda: do_merge(pair, pair.a_id)).props(
                    "unelevated no-caps"
                ).mark("merge-keep-a")
                ui.button(tr("merge.keep_b"), on_click=lambda: do_merge(pair, pair.b_id)).props(
                    "unelevated no-caps"
                ).mark("merge-keep-b")
            if is_allowed(principal, "merges", "update"):
                ui.button(tr("merge.dismiss"), on_click=lambda: dismiss(pair)).props("outline no-caps").mark(
                    "merge-dismiss"
                )


def do_merge(pair: Pair, survivor_id: str) -> None:
    result = perform(lambda s, p: merges.merge_candidate(s, p, pair.id, survivor_id=survivor_id).id)
    if result.ok:
        ui.notify(tr("merge.merged"), type="positive")
        ui.navigate.reload()


def dismiss(pair: Pair) -> None:
    result = perform(lambda s, p: merges.dismiss_candidate(s, p, pair.id).id)
    if result.ok:
        ui.notify(tr("merge.dismissed"), type="positive")
        ui.navigate.reload()


def undo(merge_id: str) -> None:
    result = perform(lambda s, p: merges.undo_merge(s, p, merge_id).id)
    if result.ok:
        ui.notify(tr("merge.undone"), type="positive")
        ui.navigate.reload()


def duplicates_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, PATH):
        result = perform(load_view, principal=principal, write=False)
        if result.value is None:
            notice(tr("error.permission_denied"))
            return None
        render(principal, result.value)
    return None
