"""Customer list: search, filters, sorting and server-side paging over the cursor API.

Paging keeps a stack of cursors: the top is the cursor of the page on screen, "next" pushes the
page's next_cursor and "previous" pops. Masking is the service's: rows arrive as the role may see them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.session import guard, tr
from guanxi.console.widgets import EMPTY, choice, local_time, options, page_title, show
from guanxi.customers import notes
from guanxi.customers import service as customers
from guanxi.customers.schemas import GENDERS, SOURCE_CHANNELS, CustomerOut
from guanxi.customers.service import CustomerFilter
from guanxi.kit.pagination import Page, PageRequest
from guanxi.kit.principal import Principal

PAGE_SIZE = 20
# "match" (the order of what the search matched: by name or pinyin, using the index) applies while a
# search text is given; without one the list falls back to creation time.
SORTS = ("match", "created_at", "name", "member_no")
NAME_LINK = r"""
<q-td :props="props">
  <a :href="'/customers/' + props.row.id" class="text-primary font-medium no-underline" @click.stop>
    {{ props.value }}
  </a>
</q-td>
"""


def customer_row(item: CustomerOut) -> dict[str, Any]:
    return {
        "id": item.id,
        "member_no": item.member_no,
        "name": item.display_name,
        "gender": choice("gender", item.gender),
        "city": show(item.city),
        "region": show(item.region),
        "phone": show(item.phone),
        "email": show(item.email),
        "tags": ", ".join(item.tags) or EMPTY,
        "created_at": local_time(item.created_at),
    }


def _columns() -> list[dict[str, Any]]:
    names = ("member_no", "name", "gender", "city", "region", "phone", "email", "tags", "created_at")
    return [{"name": n, "label": tr(f"field.{n}"), "field": n, "align": "left"} for n in names]


class CustomerList:
    def __init__(self, principal: Principal) -> None:
        self.viewer = principal  # decides what the page offers; the services decide what is allowed
        self.principal: Principal | None = principal  # used for the first load, then re-resolved
        self.cursors: list[str | None] = [None]
        self.next_cursor: str | None = None
        self.total = 0

    def build(self, q: str | None) -> None:
        with ui.row().classes("w-full items-center gap-2"):
            self.search = ui.input(placeholder=tr("customers.search_hint"), value=q or "")
            self.search.props("outlined dense clearable").classes("flex-1 min-w-64").mark("search")
            with self.search.add_slot("prepend"):
                ui.icon("search")
            self.search.on("keydown.enter", self.reset)
            self.search.on("clear", self.reset)
            ui.button(tr("customers.search"), on_click=self.reset).props("unelevated no-caps").mark("search-button")
        with ui.row().classes("w-full items-center gap-2"):
            self.city = self._text_filter("city")
            self.region = self._text_filter("region")
            self.gender = self._select_filter("gender", options("gender", GENDERS))
            self.source = self._select_filter("source_channel", options("source", SOURCE_CHANNELS))
            self.tag = self._select_filter("tag", {})
            ui.space()
            sorts = {s: tr(f"customers.sort.{s}") for s in SORTS}
            self.sort = ui.select(sorts, label=tr("customers.sort"), value="match", on_change=self.reset)
            self.sort.props("outlined dense options-dense").classes("w-36").mark("sort")
            self.order = ui.toggle({"desc": tr("customers.desc"), "asc": tr("customers.asc")}, value="desc")
            self.order.props("dense no-caps").mark("order").on_value_change(self.reset)
        self.summary = ui.label("").classes("text-sm text-slate-600").mark("customer-count")
        self.table = ui.table(rows=[], columns=_columns(), row_key="id").classes("w-full gx-table")
        self.table.props("flat bordered dense").mark("customer-table")
        self.table.add_slot("body-cell-name", NAME_LINK)
        self.table.on("rowClick", self._open_row)
        with ui.row().classes("w-full items-center justify-end gap-2"):
            self.prev_button = ui.button(tr("customers.prev"), icon="chevron_left", on_click=self.previous)
            self.prev_button.props("flat no-caps").mark("prev")
            self.page_label = ui.label("").classes("text-sm text-slate-600").mark("page-number")
            self.next_button = ui.button(tr("customers.next"), on_click=self.next)
            self.next_button.props("flat no-caps icon-right=chevron_right").mark("next")
        self._load_tags()
        self.load()

    def _text_filter(self, name: str) -> ui.input:
        element = ui.input(tr(f"field.{name}")).props("outlined dense clearable").classes("w-32")
        element.on("keydown.enter", self.reset)
        element.on("clear", self.reset)
        return element.mark(f"filter-{name}")

    def _select_filter(self, name: str, choices: dict[str, str]) -> ui.select:
        element = ui.select(choices, label=tr(f"field.{name}"), clearable=True, on_change=self.reset)
        return element.props("outlined dense options-dense").classes("w-36").mark(f"filter-{name}")

    def _load_tags(self) -> None:
        if not is_allowed(self.viewer, "tags", "read"):
            self.tag.set_visibility(False)
            return
        result = perform(lambda s, p: notes.popular_tags(s, p), principal=self.principal, write=False, notify=False)
        self.tag.set_options({tag: tag for tag in result.value or []})

    def current_filter(self) -> CustomerFilter:
        def text(element: ui.input) -> str | None:
            return (element.value or "").strip() or None

        return CustomerFilter(
            q=text(self.search),
            city=text(self.city),
            region=text(self.region),
            gender=self.gender.value or None,
            source_channel=self.source.value or None,
            tag=self.tag.value or None,
        )

    def reset(self) -> None:
        self.cursors = [None]
        self.load()

    def next(self) -> None:
        if self.next_cursor:
            self.cursors.append(self.next_cursor)
            self.load()

    def previous(self) -> None:
        if len(self.cursors) > 1:
            self.cursors.pop()
            self.load()

    def load(self) -> None:
        flt = self.current_filter()
        sort = self.sort.value
        if sort == "match" and not (flt.q and flt.q.strip()):
            sort = "created_at"
        descending = self.order.value != "asc" and sort != "match"
        request = PageRequest(limit=PAGE_SIZE, cursor=self.cursors[-1], sort=sort, descending=descending)
        first_page = len(self.cursors) == 1

        def work(session: Session, principal: Principal) -> tuple[Page[CustomerOut], int | None]:
            page = customers.list_customers(session, principal, flt, request)
            total = customers.count_customers(session, principal, flt) if first_page else None
            return page, total

        result = perform(work, principal=self.principal, write=False)
        self.principal = None
        if result.value is None:
            if len(self.cursors) > 1:
                self.cursors.pop()
            return
        page, total = result.value
        if total is not None:
            self.total = total
        self.next_cursor = page.next_cursor
        self.table.rows = [customer_row(item) for item in page.items]
        self.table.update()
        self.summary.set_text(tr("customers.count", count=f"{self.total:,}"))
        self.page_label.set_text(tr("customers.page", page=len(self.cursors)))
        self.prev_button.set_enabled(len(self.cursors) > 1)
        self.next_button.set_enabled(page.next_cursor is not None)

    def _open_row(self, event: Any) -> None:
        row = event.args[1] if isinstance(event.args, list) and len(event.args) > 1 else None
        if isinstance(row, dict) and row.get("id"):
            ui.navigate.to(f"/customers/{row['id']}")


def customers_page(request: Request, q: Annotated[str | None, Query(max_length=200)] = None) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/customers"):
        with ui.row().classes("w-full items-center"):
            page_title(tr("customers.title"))
            ui.space()
            if is_allowed(principal, "customers", "export"):
                ui.button(tr("export.nav"), icon="download", on_click=lambda: ui.navigate.to("/exports")).props(
                    "outline no-caps"
                ).mark("export-customers")
            if is_allowed(principal, "customers", "create"):
                ui.button(
                    tr("customers.new"), icon="person_add", on_click=lambda: ui.navigate.to("/customers/new")
                ).props("unelevated no-caps").mark("new-customer")
        CustomerList(principal).build(q)
    return None
