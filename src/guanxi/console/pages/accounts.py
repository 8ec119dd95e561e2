"""B2B accounts: a searchable list and an account page with its contacts (read views)."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.paging import Pager
from guanxi.console.session import guard, tr
from guanxi.console.widgets import EMPTY, card, facts, local_time, notice, page_title, place, show
from guanxi.customers import accounts
from guanxi.customers.schemas import AccountOut
from guanxi.kit.errors import NotFound
from guanxi.kit.pagination import Page, PageRequest
from guanxi.kit.principal import Principal

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
        "city": place(item.city),
        "region": show(item.region),
        "created_at": local_time(item.created_at),
    }


class AccountList:
    """Newest first; a search lists the matching names alphabetically."""

    def __init__(self, principal: Principal) -> None:
        self.principal: Principal | None = principal  # first load only; later loads re-resolve
        self.pager = Pager(self.load, marker="account-pager")

    def build(self) -> None:
        with ui.row().classes("w-full items-center gap-2"):
            self.search = ui.input(placeholder=tr("accounts.search_hint")).props("outlined dense clearable")
            self.search.classes("flex-1 min-w-64").mark("account-search")
            self.search.on("keydown.enter", self.pager.reset)
            self.search.on("clear", self.pager.reset)
            ui.button(tr("customers.search"), on_click=self.pager.reset).props("unelevated no-caps")
        names = ("name", "uscc", "industry", "city", "region", "created_at")
        columns = [{"name": n, "label": tr(f"field.{n}"), "field": n, "align": "left"} for n in names]
        self.table = ui.table(rows=[], columns=columns, row_key="id").props("flat bordered dense")
        self.table.classes("w-full gx-table").mark("account-table")
        self.table.add_slot("body-cell-name", ACCOUNT_LINK)
        self.table.on("rowClick", self._open_row)
        self.pager.build()
        self.load()

    def load(self) -> None:
        q = (self.search.value or "").strip() or None
        sort, descending = ("name", False) if q else ("created_at", True)

        def listing(session: Session, principal: Principal, request: PageRequest) -> Page[AccountOut]:
            page = accounts.list_accounts(session, principal, request, q)
            return Page([AccountOut.model_validate(a) for a in page.items], page.next_cursor)

        def count(session: Session, principal: Principal, cap: int) -> int:
            return accounts.count_accounts(session, principal, q, cap=cap)

        items = self.pager.fetch(self.principal, listing, count, sort=sort, descending=descending)
        self.principal = None
        if items is not None:
            self.table.rows = [account_row(a) for a in items]
            self.table.update()

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
                    (tr("field.province"), place(account.province)),
                    (tr("field.city"), place(account.city)),
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
