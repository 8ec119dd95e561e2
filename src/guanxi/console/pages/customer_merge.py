"""The customer page's merge action: find the other record of the same person (by name, phone or
member number), choose which record survives, and merge through `customers.merge`, the same use
case as the duplicates page and the API (permission, scope, audit, undo)."""

from __future__ import annotations

from nicegui import ui
from sqlalchemy.orm import Session

from guanxi.console.actions import perform
from guanxi.console.session import tr
from guanxi.customers import listing, merge
from guanxi.customers.listing import CustomerFilter
from guanxi.customers.merge_models import CustomerMerge
from guanxi.customers.schemas import CustomerDetail, CustomerOut
from guanxi.kit.pagination import Page, PageRequest
from guanxi.kit.principal import Principal

CANDIDATES = 8


def _who(c: CustomerOut | CustomerDetail) -> str:
    name = c.name or c.member_no
    place = c.city or c.province or ""
    return " · ".join(part for part in (name, c.member_no if c.name else "", place) if part)


class MergeDialog:
    def __init__(self, viewer: Principal, customer: CustomerDetail) -> None:
        self.viewer = viewer
        self.customer = customer
        self.found: dict[str, CustomerOut] = {}
        with ui.dialog() as self.dialog, ui.card().classes("w-[34rem] max-w-full gap-3").mark("merge-dialog"):
            ui.label(tr("customer.merge_title", name=customer.display_name)).classes("text-lg font-medium")
            ui.label(tr("customer.merge_help")).classes("text-sm text-slate-500")
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                self.query = ui.input(tr("customer.merge_search")).props("outlined dense clearable")
                self.query.classes("flex-1").mark("merge-query")
                self.query.on("keydown.enter", self.search)
                ui.button(icon="search", on_click=self.search).props("flat round dense").mark("merge-search")
            self.results = ui.column().classes("w-full gap-1")
            self.other = ui.radio({}, on_change=self._picked).props("dense").mark("merge-other")
            self.keep = (
                ui.radio(
                    {"this": tr("customer.merge_keep_this"), "other": tr("customer.merge_keep_other")}, value="this"
                )
                .props("dense inline")
                .mark("merge-keep")
            )
            self.keep.set_visibility(False)
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=self.dialog.close).props("flat no-caps")
                self.confirm = ui.button(tr("customer.merge_confirm"), on_click=self.run).props(
                    "unelevated no-caps color=negative"
                )
                self.confirm.mark("merge-confirm").set_enabled(False)

    def open(self) -> None:
        self.dialog.open()

    def search(self) -> None:
        text = (self.query.value or "").strip()
        self.results.clear()
        if not text:
            return
        request = PageRequest(limit=CANDIDATES + 1, sort="match")

        def work(session: Session, principal: Principal) -> Page[CustomerOut]:
            return listing.list_customers(session, principal, CustomerFilter(q=text), request)

        result = perform(work, write=False)
        if result.value is None:
            return
        self.found = {c.id: c for c in result.value.items if c.id != self.customer.id}
        self.other.options = {cid: _who(c) for cid, c in list(self.found.items())[:CANDIDATES]}
        self.other.value = None
        self.other.update()
        if not self.found:
            with self.results:
                ui.label(tr("customer.merge_none")).classes("text-sm text-slate-500").mark("merge-none")
        self._picked()

    def _picked(self) -> None:
        chosen = self.other.value is not None
        self.keep.set_visibility(chosen)
        self.confirm.set_enabled(chosen)

    def run(self) -> None:
        other = str(self.other.value or "")
        if not other:
            return
        keep_this = self.keep.value == "this"
        survivor, merged = (self.customer.id, other) if keep_this else (other, self.customer.id)

        def work(session: Session, principal: Principal) -> CustomerMerge:
            return merge.merge_customers(session, principal, survivor_id=survivor, merged_id=merged, reason="manual")

        result = perform(work)
        if result.value is not None:
            self.dialog.close()
            ui.notify(tr("customer.merged"), type="positive")
            ui.navigate.to(f"/customers/{survivor}")
