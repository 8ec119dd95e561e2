"""The customer page's 订单, 优惠券 and 备注 tabs.

Orders are read through the customer timeline (the `order` kind), so its permission check and
audit apply; each order links to its own page and the tab to the full orders list filtered by
the customer. Coupons are read through `loyalty.catalog.till.customer_coupons`, notes through
`customers.notes`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from nicegui import ui
from pydantic import ValidationError
from sqlalchemy.orm import Session

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.pages.customer_360 import Describer
from guanxi.console.session import language, tr
from guanxi.console.widgets import EMPTY, choice, pydantic_field_errors, set_field_error
from guanxi.customers import notes, timeline
from guanxi.customers.schemas import NoteIn, NoteOut
from guanxi.kit import formatting
from guanxi.kit.pagination import Page, PageRequest
from guanxi.kit.principal import Principal
from guanxi.loyalty import explain
from guanxi.loyalty.catalog import till
from guanxi.loyalty.catalog.schemas import CouponOut

PAGE_SIZE = 20
LINK_CELL = r"""
<q-td :props="props"><a :href="props.row.href" class="text-primary font-medium">{{ props.value }}</a></q-td>
"""


def orders_list_path(customer_id: str) -> str:
    return f"/orders?customer={customer_id}"


def _pager(on_previous: Any, on_next: Any, marker: str) -> tuple[ui.button, ui.label, ui.button]:
    with ui.row().classes("w-full items-center justify-end gap-2"):
        prev = ui.button(tr("customers.prev"), icon="chevron_left", on_click=on_previous)
        prev.props("flat no-caps dense").mark(f"{marker}-prev")
        label = ui.label("").classes("text-sm text-slate-600")
        nxt = ui.button(tr("customers.next"), on_click=on_next).props("flat no-caps dense icon-right=chevron_right")
        nxt.mark(f"{marker}-next")
    return prev, label, nxt


class CursorPanel(ABC):
    """A table paged by cursors (newest first), with previous and next; each tab says its columns
    and how to fetch a page."""

    marker = "panel"

    def __init__(self, viewer: Principal, customer_id: str) -> None:
        self.viewer = viewer
        self.customer_id = customer_id
        self.cursors: list[str | None] = [None]
        self.next_cursor: str | None = None

    @abstractmethod
    def columns(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    def fetch(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None] | None: ...

    def build(self) -> None:
        # Cells stay on one line: on a phone the table scrolls sideways instead of a word per line.
        self.table = ui.table(rows=[], columns=self.columns(), row_key="id").props("flat bordered dense")
        self.table.classes("w-full").mark(f"{self.marker}-table")
        self.table.add_slot("body-cell-link", LINK_CELL)
        self.empty = ui.label(tr(f"customer.no_{self.marker}")).classes("text-sm text-slate-500")
        self.empty.mark(f"{self.marker}-empty")
        self.prev, self.page_label, self.next = _pager(self.previous, self.forward, self.marker)
        self.load()

    def load(self) -> None:
        found = self.fetch(self.cursors[-1])
        if found is None:
            if len(self.cursors) > 1:
                self.cursors.pop()
            return
        rows, self.next_cursor = found
        self.table.rows = rows
        self.table.update()
        self.table.set_visibility(bool(rows))
        self.empty.set_visibility(not rows)
        self.page_label.set_text(tr("customers.page", page=len(self.cursors)))
        self.prev.set_enabled(len(self.cursors) > 1)
        self.next.set_enabled(self.next_cursor is not None)

    def forward(self) -> None:
        if self.next_cursor:
            self.cursors.append(self.next_cursor)
            self.load()

    def previous(self) -> None:
        if len(self.cursors) > 1:
            self.cursors.pop()
            self.load()


class OrdersPanel(CursorPanel):
    marker = "orders"

    def columns(self) -> list[dict[str, Any]]:
        names = ("when", "link", "status", "channel", "store", "points")
        columns = [{"name": n, "label": tr(f"customer.orders.{n}"), "field": n, "align": "left"} for n in names]
        columns[1]["align"] = columns[5]["align"] = "right"
        return columns

    def build(self) -> None:
        with ui.row().classes("w-full items-center"):
            ui.label(tr("customer.orders.recent")).classes("text-sm text-slate-500")
            ui.space()
            ui.link(tr("customer.orders.all"), orders_list_path(self.customer_id)).mark("all-orders")
        super().build()

    def fetch(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None] | None:
        def work(session: Session, actor: Principal) -> timeline.Timeline:
            return timeline.timeline(
                session, actor, self.customer_id, kinds_wanted=["order"], limit=PAGE_SIZE, cursor=cursor
            )

        result = perform(work, principal=self.viewer if cursor is None else None, write=False)
        if result.value is None:
            return None
        describe = Describer()
        lang = language()
        rows = []
        for item in result.value.items:
            d = item.detail
            points = d.get("points_earned")
            rows.append(
                {
                    "id": item.ref,
                    "href": f"/orders/{item.ref}",
                    "when": formatting.moment(item.at, lang),
                    "link": describe.title(item),
                    "status": choice("order.status", d.get("status")),
                    "channel": choice("source", d.get("channel")),
                    "store": d.get("store") or EMPTY,
                    "points": formatting.signed(points, lang) if isinstance(points, int) else EMPTY,
                }
            )
        return rows, result.value.next_cursor


class CouponsPanel(CursorPanel):
    marker = "coupons"

    def columns(self) -> list[dict[str, Any]]:
        names = ("name", "kind", "status", "issued_via", "valid_to", "redeemed_at", "code")
        return [{"name": n, "label": tr(f"customer.coupons.{n}"), "field": n, "align": "left"} for n in names]

    def fetch(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None] | None:
        request = PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="created_at", descending=True)

        def work(session: Session, actor: Principal) -> Page[CouponOut]:
            return till.customer_coupons(session, actor, self.customer_id, request)

        result = perform(work, principal=self.viewer if cursor is None else None, write=False)
        if result.value is None:
            return None
        lang = language()

        def when(value: datetime | None) -> str:
            return formatting.moment(value, lang) if value else EMPTY

        rows = [
            {
                "id": c.id,
                "name": explain.display_name(c.name, c.name_en, lang),
                "kind": choice("loyalty.coupon_kind", c.kind),
                "status": choice("coupon.status", c.status),
                "issued_via": choice("coupon.issued_via", c.issued_via),
                "valid_to": when(c.valid_to),
                "redeemed_at": when(c.redeemed_at),
                "code": c.code,
            }
            for c in result.value.items
        ]
        return rows, result.value.next_cursor


class NotesPanel:
    def __init__(self, viewer: Principal, customer_id: str) -> None:
        self.viewer = viewer
        self.customer_id = customer_id

    def build(self) -> None:
        if is_allowed(self.viewer, "notes", "create"):
            self.note_input = ui.textarea(tr("customer.new_note")).props("outlined dense autogrow")
            self.note_input.classes("w-full").mark("note-input")
            with ui.row().classes("w-full justify-end"):
                ui.button(tr("customer.add_note"), on_click=self.add_note).props("unelevated no-caps").mark("add-note")
        self.note_box = ui.column().classes("w-full gap-3").mark("notes")
        result = perform(lambda s, p: self._list(s, p), principal=self.viewer, write=False)
        self._render(result.value or [])

    def focus(self) -> None:
        if hasattr(self, "note_input"):
            self.note_input.run_method("focus")

    def _list(self, session: Session, principal: Principal) -> list[NoteOut]:
        return [NoteOut.model_validate(n) for n in notes.list_notes(session, principal, self.customer_id)]

    def _render(self, items: list[NoteOut]) -> None:
        self.note_box.clear()
        with self.note_box:
            if not items:
                ui.label(tr("customer.no_notes")).classes("text-sm text-slate-500")
            for note in items:
                with ui.column().classes("w-full gap-0 border-l-4 border-blue-200 pl-3"):
                    when = formatting.moment(note.created_at, language())
                    ui.label(f"{note.author_name} · {when}").classes("text-xs text-slate-500")
                    ui.label(note.body).classes("whitespace-pre-wrap text-sm")

    def add_note(self) -> None:
        set_field_error(self.note_input, None)
        try:
            body = NoteIn(body=self.note_input.value or "").body
        except ValidationError as exc:
            set_field_error(self.note_input, pydantic_field_errors(exc)[0].message)
            return

        def work(session: Session, principal: Principal) -> list[NoteOut]:
            notes.add_note(session, principal, self.customer_id, body)
            return self._list(session, principal)

        result = perform(work)
        if result.value is not None:
            self.note_input.value = ""
            self._render(result.value)
