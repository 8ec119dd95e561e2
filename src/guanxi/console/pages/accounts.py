"""B2B accounts: a searchable list and an account page with its contacts (read views)."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.session import guard, tr
from guanxi.console.widgets import EMPTY, card, facts, local_time, notice, page_title, show
from guanxi.customers import accounts
from guanxi.customers.schemas import AccountOut
from guanxi.kit.errors import NotFound
from guanxi.kit.pagination import Page, PageRequest
from guanxi.kit.principal import Principal

PAGE_SIZE = 20
ACCOUNT_LINK = r"""
<q-td :props="props">
  <a :href="'/accounts/' + props.row.id" class="text-primary font-medium no-underline" @click.stop>
    {{ props.value }}
  </a>
</q-td>
"""
CONTACT_LINK = r"""
<q-td :props="props">
  <a :href="'/customers/' + props.row.customer_id" class="text-primary no-underline">{{ props.value }}</a>
</q-td>
"""


def account_row(item: AccountOut) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "uscc": show(item.uscc),
        "industry": show(item.industry),
        "city": show(item.city),
        "region": show(item.region),
        "created_at": local_time(item.created_at),
    }


class AccountList:
    def __init__(self, principal: Principal) -> None:
        self.principal: Principal | None = principal  # first load only; later loads re-resolve
        self.cursors: list[str | None] = [None]
        self.next_cursor: str | None = None

    def build(self) -> None:
        with ui.row().classes("w-full items-center gap-2"):
            self.search = ui.input(placeholder=tr("accounts.search_hint")).props("outlined dense clearable")
            self.search.classes("flex-1 min-w-64").mark("account-search")
            self.search.on("keydown.enter", self.reset)
            self.search.on("clear", self.reset)
            ui.button(tr("customers.search"), on_click=self.reset).props("unelevated no-caps")
        names = ("name", "uscc", "industry", "city", "region", "created_at")
        columns = [{"name": n, "label": tr(f"field.{n}"), "field": n, "align": "left"} for n in names]
        self.table = ui.table(rows=[], columns=columns, row_key="id").props("flat bordered dense")
        self.table.classes("w-full gx-table").mark("account-table")
        self.table.add_slot("body-cell-name", ACCOUNT_LINK)
        self.table.on("rowClick", self._open_row)
        with ui.row().classes("w-full items-center justify-end gap-2"):
            self.prev_button = ui.button(tr("customers.prev"), icon="chevron_left", on_click=self.previous)
            self.prev_button.props("flat no-caps")
            self.page_label = ui.label("").classes("text-sm text-slate-600")
            self.next_button = ui.button(tr("customers.next"), on_click=self.next)
            self.next_button.props("flat no-caps icon-right=chevron_right")
        self.load()

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
        q = (self.search.value or "").strip() or None
        request = PageRequest(limit=PAGE_SIZE, cursor=self.cursors[-1], sort="name", descending=False)

        def work(session: Session, principal: Principal) -> Page[AccountOut]:
            page = accounts.list_accounts(session, principal, request, q)
            return Page([AccountOut.model_validate(a) for a in page.items], page.next_cursor)

        result = perform(work, principal=self.principal, write=False)
        self.principal = None
        if result.value is None:
            if len(self.cursors) > 1:
                self.cursors.pop()
            return
        self.next_cursor = result.value.next_cursor
        self.table.rows = [account_row(a) for a in result.value.items]
        self.table.update()
        self.page_label.set_text(tr("customers.page", page=len(self.cursors)))
        self.prev_button.set_enabled(len(self.cursors) > 1)
        self.next_button.set_enabled(self.next_cursor is not None)

    def _open_row(self, event: Any) -> None:
        row = event.args[1] if isinstance(event.args, list) and len(event.args) > 1 else None
        if isinstance(row, dict) and row.get("id"):
            ui.navigate.to(f"/accounts/{row['id']}")


def accounts_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/accounts"):
        page_title(tr("accounts.title"))
        AccountList(principal).build()
    return None


def account_page(request: Request, account_id: str) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/accounts"):
        result = perform(lambda s, p: accounts.account_detail(s, p, account_id), principal=principal, write=False)
        account = result.value
        if account is None:
            notice(tr("error.not_found") if isinstance(result.error, NotFound) else tr("customer.unavailable"))
            ui.link(tr("accounts.back"), "/accounts")
            return None
        with ui.row().classes("w-full items-center gap-3"):
            ui.button(icon="arrow_back", on_click=lambda: ui.navigate.to("/accounts")).props("flat round dense")
            page_title(account.name)
        with card(tr("account.profile"), marker="account-profile"):
            facts(
                [
                    (tr("field.uscc"), show(account.uscc)),
                    (tr("field.industry"), show(account.industry)),
                    (tr("field.province"), show(account.province)),
                    (tr("field.city"), show(account.city)),
                    (tr("field.region"), show(account.region)),
                    (tr("field.created_at"), local_time(account.created_at)),
                    (tr("field.updated_at"), local_time(account.updated_at)),
                ]
            )
        with card(tr("account.contacts"), marker="account-contacts"):
            if not account.contacts:
                ui.label(tr("account.no_contacts")).classes("text-sm text-slate-500")
            else:
                names = ("name", "title", "is_primary")
                columns = [{"name": n, "label": tr(f"contact.{n}"), "field": n, "align": "left"} for n in names]
                rows = [
                    {
                        "id": c.id,
                        "customer_id": c.customer_id,
                        "name": c.name or EMPTY,
                        "title": show(c.title),
                        "is_primary": tr("common.yes") if c.is_primary else "",
                    }
                    for c in account.contacts
                ]
                table = ui.table(rows=rows, columns=columns, row_key="id").props("flat dense").classes("w-full")
                table.add_slot("body-cell-name", CONTACT_LINK)
                table.mark("contact-table")
    return None
