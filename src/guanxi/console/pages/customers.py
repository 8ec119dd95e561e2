"""Customer list: search, filters, sorting and server-side paging over the cursor API.

The pager (`console.paging`) keeps the stack of cursors and shows the total, counted once per
change of filters with a cap (see `paging.COUNT_CAP`). Without a search text the list is newest
first; "best match" is offered only while a text is searched. Masking is the service's: rows
arrive as the role may see them.
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
from guanxi.console.paging import Pager
from guanxi.console.session import guard, tr
from guanxi.console.widgets import EMPTY, choice, local_time, options, page_title, place, show
from guanxi.customers import listing as customer_listing
from guanxi.customers import notes
from guanxi.customers.listing import CustomerFilter
from guanxi.customers.schemas import GENDERS, SOURCE_CHANNELS, CustomerOut
from guanxi.kit.pagination import Page, PageRequest
from guanxi.kit.principal import Principal

# "match" (the order of what the search matched: by name or pinyin, using the index) applies while a
# search text is given; without one the list is newest first.
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
        "city": place(item.city),
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
        self.pager = Pager(self.load, marker="customer-pager", noun="customers")

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
            self.sort = ui.select(self._sorts(bool(q)), label=tr("customers.sort"), value=self._default_sort(bool(q)))
            self.sort.on_value_change(self.reset)
            self.sort.props("outlined dense options-dense").classes("w-36").mark("sort")
            self.order = ui.toggle({"desc": tr("customers.desc"), "asc": tr("customers.asc")}, value="desc")
            self.order.props("dense no-caps").mark("order").on_value_change(self.reset)
        self.table = ui.table(rows=[], columns=_columns(), row_key="id").classes("w-full gx-table")
        self.table.props("flat bordered dense").mark("customer-table")
        self.table.add_slot("body-cell-name", NAME_LINK)
        self.table.on("rowClick", self._open_row)
        self.pager.build()
        self._load_tags()
        self.load()

    @staticmethod
    def _sorts(searching: bool) -> dict[str, str]:
        return {s: tr(f"customers.sort.{s}") for s in SORTS if searching or s != "match"}

    @staticmethod
    def _default_sort(searching: bool) -> str:
        return "match" if searching else "created_at"

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
        if not self._offer_match():
            self.pager.reset()

    def _offer_match(self) -> bool:
        """The "best match" sort exists only while a text is searched: searching switches to it, clearing
        the text goes back to newest first. True when the sort changed (its handler reloads)."""
        searching = bool((self.search.value or "").strip())
        if searching == ("match" in self.sort.options):
            return False
        self.sort.set_options(self._sorts(searching), value=self._default_sort(searching))
        return True

    def load(self) -> None:
        flt = self.current_filter()
        sort = self.sort.value if self.sort.value in self.sort.options else "created_at"
        descending = self.order.value != "asc" and sort != "match"

        def listing(session: Session, principal: Principal, request: PageRequest) -> Page[CustomerOut]:
            return customer_listing.list_customers(session, principal, flt, request)

        def count(session: Session, principal: Principal, cap: int) -> int:
            return customer_listing.count_customers(session, principal, flt, cap=cap)

        items = self.pager.fetch(self.principal, listing, count, sort=sort, descending=descending)
        self.principal = None
        if items is not None:
            self.table.rows = [customer_row(item) for item in items]
            self.table.update()

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
