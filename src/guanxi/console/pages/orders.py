"""The orders list: filters, the totals of everything the filters matched, numbered pages, newest
first; a row opens the order's page.

Everything is read through `loyalty.orders.listing`, which applies the caller's row scope (an
order is listed to whoever may see its customer) and masks customer names as the role requires.
The customer page links here as `/orders?customer=<customer_id>`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import Query
from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import notify_error, perform
from guanxi.console.layout import frame
from guanxi.console.paging import Pager
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import (
    EMPTY,
    apply_field_errors,
    choice,
    date_input,
    notice,
    options,
    page_title,
    set_field_error,
)
from guanxi.customers.schemas import CustomerOut
from guanxi.kit import formatting
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.loyalty.orders import listing
from guanxi.loyalty.orders.listing import OrderFilter, OrderListing, OrderRow, OrderTotals
from guanxi.loyalty.orders.statuses import STORED_STATUSES

PATH = "/orders"
# The channels orders arrive through (display names in the `source.*` group); any other value
# recorded on an order still shows, as recorded.
CHANNELS = ("store", "mini_program", "app", "web", "wechat", "tmall", "jd", "douyin")
TIME_LINK = r"""
<q-td :props="props">
  <a :href="'/orders/' + props.row.id" class="text-primary no-underline" @click.stop>{{ props.value }}</a>
</q-td>
"""
COLUMNS = (
    ("occurred_at", "orders.field.occurred_at", "left"),
    ("customer", "orders.field.customer", "left"),
    ("member_no", "field.member_no", "left"),
    ("store", "orders.field.store", "left"),
    ("channel", "orders.field.channel", "left"),
    ("status", "orders.field.status", "left"),
    ("paid_amount", "orders.field.paid_amount", "right"),
    ("points_earned", "orders.field.points_earned", "right"),
)


def order_row(row: OrderRow, lang: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "occurred_at": formatting.moment(row.occurred_at, lang),
        "customer": row.customer_name,
        "member_no": row.member_no,
        "store": row.store or EMPTY,
        "channel": choice("source", row.channel),
        "status": choice("order.status", row.status),
        "paid_amount": formatting.money(row.paid_amount, row.currency, lang),
        "points_earned": formatting.number(row.points_earned, lang),
    }


def money_totals(totals: OrderTotals, lang: str, *, refunded: bool = False) -> str:
    """One amount per currency the orders were kept in (one, unless the program's changed)."""
    if not totals.amounts:
        return formatting.money(0, "CNY", lang)
    return tr("common.separator").join(
        formatting.money(t.refunded if refunded else t.paid, t.currency, lang) for t in totals.amounts
    )


def parse_day(text: str | None, field: str) -> tuple[date | None, FieldError | None]:
    text = (text or "").strip()
    if not text:
        return None, None
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return None, FieldError(field, "is not a date", "pydantic.date_parsing")


def parse_amount(text: str | float | None, field: str) -> tuple[Decimal | None, FieldError | None]:
    text = str(text).strip() if text is not None else ""
    if not text:
        return None, None
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None, FieldError(field, "is not a number", "pydantic.decimal_parsing")
    if not amount.is_finite() or amount < 0:
        return None, FieldError(field, "must be 0 or more", "invalid_amount")
    return amount, None


class OrderList:
    def __init__(self, principal: Principal, customer_id: str | None) -> None:
        self.principal: Principal | None = principal  # used for the first load, then re-resolved
        self.customer_id = customer_id
        self.pager = Pager(self.load, keyset=False, marker="orders-pager")
        self.clearing = False  # the reset button clears every field, then loads once

    def build(self) -> None:
        if self.customer_id:
            self.customer_chip = ui.row().classes("w-full items-center gap-2").mark("customer-filter")
        with ui.row().classes("w-full items-end gap-2"):
            self.store = ui.input(tr("orders.field.store")).props("outlined dense clearable").classes("w-32")
            self.store.mark("filter-store").on("keydown.enter", self.pager.reset)
            self.channel = self._select("channel", options("source", CHANNELS))
            self.status = self._select("status", options("order.status", STORED_STATUSES))
            self.date_from = date_input(tr("orders.filter.date_from")).props("outlined dense clearable")
            self.date_from.classes("w-40").mark("filter-date-from")
            self.date_to = date_input(tr("orders.filter.date_to")).props("outlined dense clearable")
            self.date_to.classes("w-40").mark("filter-date-to")
            self.amount_min = self._amount("amount_min", "filter-amount-min")
            self.amount_max = self._amount("amount_max", "filter-amount-max")
            ui.button(tr("orders.filter.apply"), icon="search", on_click=self.pager.reset).props(
                "unelevated no-caps"
            ).mark("apply-filters")
            ui.button(tr("orders.filter.reset"), on_click=self.clear).props("flat no-caps").mark("reset-filters")
        self.fields: dict[str, ui.element] = {
            "store": self.store,
            "channel": self.channel,
            "status": self.status,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "amount_min": self.amount_min,
            "amount_max": self.amount_max,
        }
        self._totals()
        self.table = ui.table(rows=[], columns=self._columns(), row_key="id").classes("w-full gx-table")
        self.table.props(f'flat bordered dense no-data-label="{tr("orders.empty")}"').mark("order-table")
        self.table.add_slot("body-cell-occurred_at", TIME_LINK)
        self.table.on("rowClick", self._open_row)
        self.pager.build()
        self.load()

    def _select(self, name: str, choices: dict[str, str]) -> ui.select:
        element = ui.select(choices, label=tr(f"orders.field.{name}"), clearable=True, on_change=self._changed)
        return element.props("outlined dense options-dense").classes("w-36").mark(f"filter-{name}")

    def _amount(self, name: str, marker: str) -> ui.input:
        element = ui.input(tr(f"orders.filter.{name}")).props("outlined dense clearable inputmode=decimal")
        element.classes("w-32").mark(marker).on("keydown.enter", self.pager.reset)
        return element

    @staticmethod
    def _columns() -> list[dict[str, Any]]:
        return [{"name": n, "label": tr(key), "field": n, "align": align} for n, key, align in COLUMNS]

    def _totals(self) -> None:
        with ui.row().classes("w-full gap-3").mark("order-totals"):
            self.total_labels: dict[str, ui.label] = {}
            for name in ("count", "paid", "refunded", "points"):
                with ui.card().classes("min-w-40 px-4 py-2 gap-0").props("flat bordered"):
                    ui.label(tr(f"orders.totals.{name}")).classes("text-xs text-slate-500")
                    self.total_labels[name] = ui.label("").classes("text-lg font-medium").mark(f"total-{name}")
        ui.label(tr("orders.totals.hint")).classes("text-xs text-slate-500 -mt-2")

    def _changed(self) -> None:
        if not self.clearing:
            self.pager.reset()

    def clear(self) -> None:
        self.clearing = True
        for element in self.fields.values():
            if isinstance(element, ui.select):
                element.value = None
            elif isinstance(element, ui.input | ui.date_input):
                element.value = ""
        self.clearing = False
        self.pager.reset()

    def current_filter(self) -> tuple[OrderFilter, list[FieldError]]:
        errors: list[FieldError] = []
        date_from, error_from = parse_day(self.date_from.value, "date_from")
        date_to, error_to = parse_day(self.date_to.value, "date_to")
        amount_min, error_min = parse_amount(self.amount_min.value, "amount_min")
        amount_max, error_max = parse_amount(self.amount_max.value, "amount_max")
        errors = [e for e in (error_from, error_to, error_min, error_max) if e is not None]
        flt = OrderFilter(
            customer_id=self.customer_id,
            store=(self.store.value or "").strip() or None,
            channel=self.channel.value or None,
            status=self.status.value or None,
            date_from=date_from,
            date_to=date_to,
            amount_min=amount_min,
            amount_max=amount_max,
        )
        return flt, errors

    def _show_errors(self, errors: list[FieldError]) -> None:
        for element in self.fields.values():
            set_field_error(element, None)
        for text in apply_field_errors(self.fields, errors):
            ui.notify(text, type="negative")

    def load(self) -> None:
        flt, errors = self.current_filter()
        self._show_errors(errors)
        if errors:
            self.pager.failed()
            return
        page, size, first = self.pager.page, self.pager.size, self.principal is not None

        def work(session: Session, principal: Principal) -> tuple[OrderListing, CustomerOut | None]:
            result = listing.list_orders(session, principal, flt, page=page, page_size=size)
            customer = (
                listing.filter_customer(session, principal, flt.customer_id) if first and flt.customer_id else None
            )
            return result, customer

        result = perform(work, principal=self.principal, write=False, notify=False)
        self.principal = None
        if isinstance(result.error, ValidationFailed):
            self._show_errors(result.error.errors)
        elif result.error is not None:
            notify_error(result.error)
        if result.value is None:
            self.pager.failed()
            return
        found, customer = result.value
        if first and self.customer_id:
            self._customer_chip(customer)
        self.show(found)

    def show(self, found: OrderListing) -> None:
        lang = language()
        self.table.rows = [order_row(row, lang) for row in found.rows]
        self.table.update()
        self.total_labels["count"].set_text(formatting.number(found.totals.count, lang))
        self.total_labels["paid"].set_text(money_totals(found.totals, lang))
        self.total_labels["refunded"].set_text(money_totals(found.totals, lang, refunded=True))
        self.total_labels["points"].set_text(formatting.number(found.totals.points_earned, lang))
        self.pager.counted(found.totals.count, capped=False)
        self.pager.index = found.page - 1
        # The pager's "next" is enabled by a next cursor; these pages are numbered, so any value will do.
        self.pager.shown("more" if found.page < found.pages else None)

    def _customer_chip(self, customer: CustomerOut | None) -> None:
        with self.customer_chip:
            if customer is None:
                notice(tr("orders.filter.customer_unknown"))
            else:
                ui.icon("person").classes("text-slate-500")
                ui.link(
                    tr("orders.filter.customer", name=customer.display_name, member_no=customer.member_no),
                    f"/customers/{customer.id}",
                ).classes("text-primary")
            ui.link(tr("orders.filter.all_orders"), PATH).classes("text-sm").mark("all-orders")

    def _open_row(self, event: Any) -> None:
        row = event.args[1] if isinstance(event.args, list) and len(event.args) > 1 else None
        if isinstance(row, dict) and row.get("id"):
            ui.navigate.to(f"/orders/{row['id']}")


def orders_page(request: Request, customer: Annotated[str | None, Query(max_length=26)] = None) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, PATH):
        page_title(tr("orders.title"))
        if not is_allowed(principal, "orders", "read"):
            notice(tr("error.permission_denied"), kind="error")
            return None
        OrderList(principal, (customer or "").strip() or None).build()
    return None
