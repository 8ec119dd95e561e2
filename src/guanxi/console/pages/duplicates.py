"""Duplicate review: the queue of probable duplicates (paged, most likely first), each pair with the
evidence per field ("same phone number", "names sound alike") and its score in words; a side by
side comparison (masked per role) with merge (staff choose who stays) or dismiss; and the merge
history with undo, paged too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.paging import Pager
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import EMPTY, card, choice, local_time, notice, page_title, place, show
from guanxi.customers import merge as merges
from guanxi.customers import service as customers
from guanxi.customers.merge_models import CustomerMerge, DuplicateCandidate
from guanxi.customers.models import Customer
from guanxi.customers.normalize import display_name
from guanxi.kit import formatting
from guanxi.kit.pagination import Page, PageRequest
from guanxi.kit.principal import Principal

PATH = "/duplicates"
FIELDS = ("name", "member_no", "gender", "birthday", "province", "city", "phone", "email", "source_channel", "region")
CHOICES = {"gender": "gender", "source_channel": "source"}  # compared fields shown by their display names
# The evidence strongest first: a shared phone number says far more than a shared gender.
EVIDENCE_ORDER = ("phone", "email", "name", "birthday", "city", "gender")
# Score bands, by match probability (the model's, see customers/duplicates.py).
BANDS = ((0.999, "certain"), (0.99, "likely"), (0.0, "possible"))


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


def _name(session: Session, customer_id: str) -> str:
    row = session.get(Customer, customer_id)
    if row is None:
        return customer_id
    shown = display_name(row.name, row.member_no)
    return shown if shown == row.member_no else tr("merge.name_with_no", name=shown, no=row.member_no)


def _pairs(session: Session, principal: Principal, request: PageRequest) -> Page[Pair]:
    page = merges.list_candidates(session, principal, request)
    return Page([_pair(session, c) for c in page.items], page.next_cursor)


def _pair(session: Session, c: DuplicateCandidate) -> Pair:
    a, b = _name(session, c.customer_a_id), _name(session, c.customer_b_id)
    return Pair(c.id, c.customer_a_id, c.customer_b_id, a, b, c.score, dict(c.matched or {}))


def _history(session: Session, principal: Principal, request: PageRequest) -> Page[HistoryRow]:
    page = merges.list_merges(session, principal, request)
    return Page([_history_row(session, m) for m in page.items], page.next_cursor)


def _history_row(session: Session, m: CustomerMerge) -> HistoryRow:
    survivor, merged = _name(session, m.survivor_id), _name(session, m.merged_id)
    return HistoryRow(m.id, m.created_at, survivor, merged, m.reason, m.status)


def evidence(matched: dict[str, Any]) -> list[str]:
    """What matched, field by field, in words, strongest first."""
    order = {name: i for i, name in enumerate(EVIDENCE_ORDER)}
    texts = []
    for field in sorted(matched, key=lambda f: order.get(f, len(order))):
        key = f"merge.evidence.{field}.{matched[field]}"
        text = tr(key)
        if text == key:  # a level the catalog does not phrase: the field and the level's name
            text = f"{tr(f'merge.field.{field}')}{tr(f'merge.level.{matched[field]}')}"
        texts.append(text)
    return texts


def band(score: float) -> str:
    return next(name for floor, name in BANDS if score >= floor)


def explanation(pair: Pair) -> str:
    """The score in a sentence: how sure, and on what."""
    found = evidence(pair.matched)
    sure = tr(f"merge.band.{band(pair.score)}")
    if not found:
        return sure
    if language() == "en":  # the chips' "Same city" reads "same city" inside a sentence
        found = [text[:1].lower() + text[1:] for text in found]
    return tr("merge.explain", sure=sure, evidence=tr("merge.list_separator").join(found))


class Queue:
    def __init__(self, principal: Principal, compare_area: ui.column) -> None:
        self.viewer = principal
        self.principal: Principal | None = principal
        self.compare_area = compare_area
        self.pager = Pager(self.load, marker="merge-pager")

    def build(self) -> None:
        with card(tr("merge.queue"), marker="merge-queue"):
            ui.label(tr("merge.queue_hint")).classes("text-sm text-slate-500")
            self.rows = ui.column().classes("w-full gap-0 divide-y divide-slate-100")
            self.pager.build()
        self.load()

    def load(self) -> None:
        items = self.pager.fetch(
            self.principal,
            _pairs,
            lambda s, p, cap: merges.count_candidates(s, p, cap=cap),
            sort="score",
            descending=True,
        )
        self.principal = None
        if items is None:
            return
        self.rows.clear()
        with self.rows:
            if not items:
                ui.label(tr("merge.queue_empty")).classes("text-sm text-slate-500 py-2").mark("merge-queue-empty")
            for i, pair in enumerate(items):
                self._row(i, pair)

    def _row(self, i: int, pair: Pair) -> None:
        lang = language()
        with ui.row().classes("w-full items-center gap-4 py-3 no-wrap").mark(f"merge-pair-{i}"):
            with ui.column().classes("flex-1 gap-1"):
                with ui.row().classes("items-center gap-2"):
                    ui.label(pair.a_name).classes("font-medium")
                    ui.icon("sync_alt").classes("text-slate-400")
                    ui.label(pair.b_name).classes("font-medium")
                with ui.row().classes("items-center gap-1").mark(f"merge-evidence-{i}"):
                    ui.label(tr("merge.evidence")).classes("text-xs text-slate-500")
                    for text in evidence(pair.matched):
                        ui.label(text).classes("rounded-full bg-sky-50 text-sky-800 px-2 py-0.5 text-xs")
            with ui.column().classes("items-end gap-0 w-56"):
                ui.label(formatting.percent(pair.score, lang)).classes("text-lg font-semibold text-slate-700").mark(
                    f"merge-score-{i}"
                )
                ui.label(tr(f"merge.band.{band(pair.score)}")).classes("text-xs text-slate-500").mark(f"merge-band-{i}")
            ui.button(
                tr("merge.compare"),
                icon="compare_arrows",
                on_click=lambda _, p=pair: show_comparison(self.viewer, self.compare_area, p),
            ).props("outline dense no-caps").mark(f"merge-compare-{i}")


class History:
    def __init__(self, principal: Principal) -> None:
        self.viewer = principal
        self.principal: Principal | None = principal
        self.pager = Pager(self.load, marker="history-pager")

    def build(self) -> None:
        with card(tr("merge.history"), marker="merge-history"):
            names = ("created_at", "merged", "survivor", "reason", "status")
            columns = [{"name": n, "label": tr(f"merge.col.{n}"), "field": n, "align": "left"} for n in names]
            columns.append({"name": "undo", "label": "", "field": "id", "align": "right"})
            self.table = ui.table(rows=[], columns=columns, row_key="id").props("flat dense").classes("w-full")
            self.table.mark("merge-history-table")
            if is_allowed(self.viewer, "merges", "delete"):
                self.table.add_slot(
                    "body-cell-undo",
                    f"""<q-td :props="props"><q-btn v-if="props.row.undoable" flat dense no-caps color="negative"
                    icon="undo" label="{tr("merge.undo")}" @click="() => $parent.$emit('undo', props.row.id)" />
                    </q-td>""",
                )
                self.table.on("undo", lambda e: undo(str(e.args)))
            self.pager.build()
        self.load()

    def load(self) -> None:
        items = self.pager.fetch(
            self.principal,
            _history,
            lambda s, p, cap: merges.count_merges(s, p, cap=cap),
            sort="created_at",
            descending=True,
        )
        self.principal = None
        if items is None:
            return
        self.table.rows = [
            {
                "id": row.id,
                "created_at": local_time(row.created_at),
                "merged": row.merged,
                "survivor": row.survivor,
                "reason": tr(f"merge.reason.{row.reason}"),
                "status": tr(f"merge.status.{row.status}"),
                "undoable": row.status == "merged",
            }
            for row in items
        ]
        self.table.update()


def load_comparison(session: Session, principal: Principal, pair: Pair) -> dict[str, dict[str, Any]]:
    """Both profiles as shown to this role (masked values stay masked)."""
    sides = {}
    for side, cid in (("a", pair.a_id), ("b", pair.b_id)):
        detail = customers.customer_detail(session, principal, cid)
        sides[side] = detail.model_dump()
    return sides


def _shown(name: str, value: Any) -> str:
    if name in CHOICES:
        return choice(CHOICES[name], value)
    if isinstance(value, date):
        return formatting.day(value, language())
    if name in ("province", "city"):
        return place(value)
    return show(value)


def show_comparison(principal: Principal, area: ui.column, pair: Pair) -> None:
    result = perform(lambda s, p: load_comparison(s, p, pair))
    if result.value is None:
        return
    sides = result.value
    area.clear()
    with area, card(tr("merge.comparison"), marker="merge-comparison"):
        ui.label(explanation(pair)).classes("text-sm text-slate-600").mark("merge-explain")
        with ui.grid(columns="max-content 1fr 1fr").classes("w-full gap-x-8 gap-y-1"):
            ui.label("")
            ui.label(f"{tr('merge.side_a')} · {pair.a_name}").classes("font-medium")
            ui.label(f"{tr('merge.side_b')} · {pair.b_name}").classes("font-medium")
            for name in FIELDS:
                a, b = _shown(name, sides["a"].get(name)), _shown(name, sides["b"].get(name))
                style = "text-amber-700" if a != b and EMPTY not in (a, b) else ""
                ui.label(tr(f"merge.field.{name}")).classes("text-sm text-slate-500")
                ui.label(a).classes(style).mark(f"merge-a-{name}")
                ui.label(b).classes(style).mark(f"merge-b-{name}")
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
        allowed = perform(
            lambda s, p: merges.count_candidates(s, p, cap=0), principal=principal, write=False, notify=False
        )
        if not allowed.ok:
            notice(tr("error.permission_denied"))
            return None
        page_title(tr("merge.title"))
        compare_area = ui.column().classes("w-full")
        Queue(principal, compare_area).build()
        History(principal).build()
    return None
