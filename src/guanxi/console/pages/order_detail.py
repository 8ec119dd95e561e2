"""An order's page: who bought what, where and when, the points it earned and why, its refunds,
the coupon used and the exchange rate of an order paid in another currency; cancelling and
returning for the roles that may refund.

Read through `loyalty.orders.listing.order_page` (the order service's permission and scope) and
the coupon service; written through `loyalty.orders.status_changes`, exactly as the API's
`POST /orders/{id}/cancel` and `/return`, so permissions, idempotency and audit are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import error_text, notify_error, perform
from guanxi.console.layout import frame
from guanxi.console.pages.loyalty_card import entry_reason
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import EMPTY, card, choice, facts, notice, page_title
from guanxi.kit import formatting
from guanxi.kit.errors import DomainError, NotFound
from guanxi.kit.ids import new_id
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import Principal
from guanxi.loyalty import explain
from guanxi.loyalty.catalog import till
from guanxi.loyalty.catalog.schemas import CouponOut
from guanxi.loyalty.orders import listing, status_changes
from guanxi.loyalty.orders.listing import OrderPage
from guanxi.loyalty.orders.statuses import CANCELLED
from guanxi.loyalty.program import config as program

# Refusals the page words itself (the order changed since it was drawn); others get the usual notice.
ORDER_REFUSALS = ("order_has_refunds", "order_cancelled", "nothing_to_return")
# A member's redeemed coupons read to find the ones used on this order (a till names the order
# by its own number or by ours).
COUPONS_READ = 200


@dataclass(frozen=True)
class OrderView:
    page: OrderPage
    coupons: list[CouponOut]
    tier_names: dict[str, str]  # for the awards that name a tier (the ladder is no personal data)


def load_order(session: Session, principal: Principal, order_id: str) -> OrderView:
    page = listing.order_page(session, principal, order_id)
    coupons: list[CouponOut] = []
    if is_allowed(principal, "coupons", "read"):
        found = till.customer_coupons(
            session, principal, page.customer.id, PageRequest(limit=COUPONS_READ), status="redeemed"
        )
        references = {page.order.id, page.external_id}
        coupons = [c for c in found.items if c.order_reference in references]
    names = explain.tier_names(program.load(session).tiers, language())
    return OrderView(page=page, coupons=coupons, tier_names=names)


def _table(marker: str, columns: list[tuple[str, str, str]], rows: list[dict[str, Any]], empty: str) -> ui.table:
    spec = [{"name": n, "label": tr(key), "field": n, "align": align} for n, key, align in columns]
    table = ui.table(rows=rows, columns=spec, row_key="id").classes("w-full")
    return table.props(f'flat bordered dense hide-bottom no-data-label="{empty}"').mark(marker)


class OrderScreen:
    def __init__(self, principal: Principal, order_id: str) -> None:
        self.viewer = principal  # decides what the page offers; the services decide what is allowed
        self.order_id = order_id
        self.lang = language()

    def render(self, view: OrderView) -> None:
        self.view = view
        self.container.clear()
        with self.container:
            self._header(view.page)
            if view.page.order.exchange is not None:
                self._exchange(view.page)
            self._lines(view.page)
            self._points(view.page)
            self._refunds(view.page)
            if is_allowed(self.viewer, "coupons", "read"):
                self._coupons(view.coupons, view.page.order.currency)

    def build(self, view: OrderView) -> None:
        self.container = ui.column().classes("w-full gap-4")
        self.render(view)

    def reload(self) -> None:
        result = perform(lambda s, p: load_order(s, p, self.order_id), write=False)
        if result.value is not None:
            self.render(result.value)

    # -- sections -----------------------------------------------------------------------------

    def _header(self, page: OrderPage) -> None:
        order, customer, lang = page.order, page.customer, self.lang
        with ui.row().classes("w-full items-center gap-3"):
            page_title(tr("orders.detail.title", number=page.external_id))
            ui.label(choice("order.status", order.status)).classes(
                "rounded bg-slate-100 px-2 py-0.5 text-sm text-slate-700"
            ).mark("order-status")
            ui.space()
            self._actions(page)
        with ui.row().classes("w-full gap-4 text-sm"):
            ui.link(tr("orders.detail.back"), "/orders").mark("back-to-orders")
            ui.link(tr("orders.detail.customer_orders"), f"/orders?customer={customer.id}").mark("customer-orders")
        shown = tr("orders.customer_label", name=customer.display_name, member_no=customer.member_no)
        where = [
            (tr("orders.field.external_id"), page.external_id),
            (tr("orders.field.source"), page.source),
            (tr("orders.field.store"), page.store or EMPTY),
            (tr("orders.field.channel"), choice("source", page.channel)),
            (tr("orders.field.occurred_at"), formatting.moment(order.occurred_at, lang)),
        ]
        if order.cancelled_at is not None:
            where.append((tr("orders.field.cancelled_at"), formatting.moment(order.cancelled_at, lang)))
        figures = [
            (tr("orders.field.paid_amount"), formatting.money(order.paid_amount, order.currency, lang)),
            (tr("orders.field.refunded_amount"), formatting.money(order.refunded_amount, order.currency, lang)),
            (tr("orders.field.points_earned"), formatting.number(order.points_earned, lang)),
            (tr("orders.field.points_reversed"), formatting.number(order.points_reversed, lang)),
            (tr("orders.field.growth_earned"), formatting.number(order.growth_earned, lang)),
        ]
        grid = "grid grid-cols-1 md:grid-cols-2 gap-x-12 gap-y-1 w-full"
        with card(tr("orders.detail.header"), marker="order-header"), ui.element("div").classes(grid):
            with ui.grid(columns="max-content 1fr").classes("gap-x-6 gap-y-1 text-sm content-start"):
                ui.label(tr("orders.field.customer")).classes("text-slate-500")
                ui.link(shown, f"/customers/{customer.id}").classes("text-primary").mark("order-customer")
                for label, value in where:
                    ui.label(label).classes("text-slate-500")
                    ui.label(value)
            facts(figures)

    def _exchange(self, page: OrderPage) -> None:
        exchange, order, lang = page.order.exchange, page.order, self.lang
        assert exchange is not None
        rate = tr(
            "orders.exchange.rate_value",
            currency=exchange.currency,
            rate=formatting.number(exchange.rate, lang),
            program_currency=order.currency,
        )
        with card(tr("orders.exchange.title"), marker="order-exchange"):
            facts(
                [
                    (tr("orders.exchange.original"), formatting.money(exchange.amount, exchange.currency, lang)),
                    (tr("orders.exchange.rate"), rate),
                    (tr("orders.exchange.valid_from"), formatting.day(exchange.valid_from, lang)),
                    (tr("orders.exchange.converted"), formatting.money(order.paid_amount, order.currency, lang)),
                ]
            )

    def _lines(self, page: OrderPage) -> None:
        currency, lang = page.order.currency, self.lang
        rows = [
            {
                "id": line.line_no,
                "line_no": formatting.number(line.line_no, lang),
                "sku": line.sku or EMPTY,
                "category": line.category or EMPTY,  # the brand's own word for it
                "quantity": formatting.number(line.quantity, lang),
                "unit_price": formatting.money(line.unit_price, currency, lang),
                "amount": formatting.money(line.paid_share, currency, lang),
                "refunded_quantity": formatting.number(line.refunded_quantity, lang),
                "refunded_amount": formatting.money(line.refunded_amount, currency, lang),
            }
            for line in page.order.lines
        ]
        names = (
            "line_no",
            "sku",
            "category",
            "quantity",
            "unit_price",
            "amount",
            "refunded_quantity",
            "refunded_amount",
        )
        columns = [(n, f"orders.line.{n}", "left" if n in ("sku", "category") else "right") for n in names]
        with card(tr("orders.lines.title")):
            _table("order-lines", columns, rows, tr("orders.lines.empty"))

    def _points(self, page: OrderPage) -> None:
        lang = self.lang
        with card(tr("orders.points.title")):
            if page.order.pending:
                ui.label(tr("orders.points.pending")).classes("text-sm text-amber-800").mark("points-pending")
            if page.entries:
                rows = []
                for entry in page.entries:
                    _, why = entry_reason(entry, self.view.tier_names)
                    rows.append(
                        {
                            "id": entry.id,
                            "when": formatting.moment(entry.occurred_at, lang),
                            "kind": choice("loyalty.kind", entry.kind),
                            "points": formatting.signed(entry.points, lang),
                            "reason": why,
                        }
                    )
            else:
                # No entries to read (none moved, or the role reads no statements): the award as
                # it was explained when the order was recorded.
                rows = [
                    {"id": i, "when": EMPTY, "kind": choice("loyalty.kind", "earn"),
                     "points": formatting.signed(award.points, lang), "reason": award.description}
                    for i, award in enumerate(page.order.awards)
                ]  # fmt: skip
            columns = [
                ("when", "orders.points.when", "left"),
                ("kind", "orders.points.kind", "left"),
                ("points", "orders.points.points", "right"),
                ("reason", "orders.points.reason", "left"),
            ]
            table = _table("order-points", columns, rows, tr("orders.points.empty"))
            table.add_slot(
                "body-cell-reason",
                '<q-td :props="props"><span class="whitespace-pre-line">{{ props.value }}</span></q-td>',
            )

    def _refunds(self, page: OrderPage) -> None:
        currency, lang = page.order.currency, self.lang
        rows = [
            {
                "id": refund.id,
                "when": formatting.moment(refund.created_at, lang),
                "amount": formatting.money(refund.amount, currency, lang),
                "points": formatting.number(refund.points_reversed, lang),
                "shortfall": formatting.number(refund.points_shortfall, lang),
                "cash_deduction": formatting.money(refund.cash_deduction, currency, lang),
                "policy": choice("loyalty.setting.refund_policy", refund.policy),
            }
            for refund in page.order.refunds
        ]
        names = ("when", "amount", "points", "shortfall", "cash_deduction", "policy")
        columns = [(n, f"orders.refunds.{n}", "left" if n in ("when", "policy") else "right") for n in names]
        with card(tr("orders.refunds.title")):
            _table("order-refunds", columns, rows, tr("orders.refunds.empty"))

    def _coupons(self, coupons: list[CouponOut], currency: str) -> None:
        lang = self.lang
        rows = [
            {
                "id": c.id,
                "name": explain.display_name(c.name, c.name_en, lang),
                "code": c.code,
                "discount": formatting.money(c.discount_amount, currency, lang) if c.discount_amount else EMPTY,
                "redeemed_at": formatting.moment(c.redeemed_at, lang),
            }
            for c in coupons
        ]
        columns = [(n, f"orders.coupons.{n}", "left") for n in ("name", "code", "discount", "redeemed_at")]
        with card(tr("orders.coupons.title")):
            _table("order-coupons", columns, rows, tr("orders.coupons.empty"))

    # -- actions ------------------------------------------------------------------------------

    def _actions(self, page: OrderPage) -> None:
        if not is_allowed(self.viewer, "orders", "refund") or page.order.status == CANCELLED:
            return
        order = page.order
        left = Decimal(order.paid_amount) - Decimal(order.refunded_amount)
        if Decimal(order.refunded_amount) == 0:
            ui.button(tr("orders.actions.cancel"), icon="block", on_click=self._confirm_cancel).props(
                "outline no-caps color=negative"
            ).mark("cancel-order")
        if left > 0:
            label = tr("orders.actions.return" if Decimal(order.refunded_amount) == 0 else "orders.actions.return_rest")
            ui.button(label, icon="assignment_return", on_click=self._confirm_return).props("outline no-caps").mark(
                "return-order"
            )

    def _confirm(self, text: str, confirm_label: str, action: Any, marker: str) -> None:
        with ui.dialog() as dialog, ui.card().classes("max-w-md gap-4"):
            ui.label(text).classes("text-base").mark(f"{marker}-text")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("orders.actions.back"), on_click=dialog.close).props("flat no-caps").mark(f"{marker}-back")

                def confirmed() -> None:
                    dialog.close()
                    action()

                ui.button(confirm_label, on_click=confirmed).props("unelevated no-caps color=negative").mark(
                    f"{marker}-confirm"
                )
        dialog.open()

    def _confirm_cancel(self) -> None:
        page = self.view.page
        points = formatting.number(page.order.points_earned - page.order.points_reversed, self.lang)
        text = tr("orders.actions.cancel_confirm", number=page.external_id, points=points)
        self._confirm(text, tr("orders.actions.confirm_cancel"), self._cancel, "cancel-dialog")

    def _confirm_return(self) -> None:
        order = self.view.page.order
        left = formatting.money(Decimal(order.paid_amount) - Decimal(order.refunded_amount), order.currency, self.lang)
        text = tr("orders.actions.return_confirm", number=self.view.page.external_id, amount=left)
        self._confirm(text, tr("orders.actions.confirm_return"), self._return, "return-dialog")

    def _done(self, error: DomainError | None, text: str | None, uncollected: int) -> None:
        if error is not None:
            if error.code in ORDER_REFUSALS:
                ui.notify(tr(f"error.{error.code}"), type="warning")
            else:
                notify_error(error)
        elif text is not None:
            if uncollected:
                text += tr("common.separator") + tr("orders.actions.uncollected", points=uncollected)
            ui.notify(text, type="positive", multi_line=True)
        self.reload()

    def _cancel(self) -> None:
        result = perform(lambda s, p: status_changes.cancel_order(s, p, self.order_id), notify=False)
        if result.value is None:
            self._done(result.error, None, 0)
            return
        answer, _ = result.value
        points = formatting.number(answer.points_reversed, self.lang)
        self._done(None, tr("orders.actions.cancelled", points=points), answer.points_uncollected)

    def _return(self) -> None:
        key = new_id()  # one key per confirmed return: a retry of this click returns once
        result = perform(lambda s, p: status_changes.return_order(s, p, self.order_id, key), notify=False)
        if result.value is None:
            self._done(result.error, None, 0)
            return
        answer, _ = result.value
        amount = formatting.money(answer.amount, answer.currency, self.lang)
        text = tr("orders.actions.returned", amount=amount, points=formatting.number(answer.points_reversed, self.lang))
        self._done(None, text, answer.points_uncollected)


def order_page(request: Request, order_id: str) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/orders"):
        result = perform(lambda s, p: load_order(s, p, order_id[:26]), principal=principal, write=False, notify=False)
        if result.value is None:
            if result.error is not None:
                notice(error_text(result.error), kind="warning" if isinstance(result.error, NotFound) else "error")
            ui.link(tr("orders.detail.back"), "/orders")
            return None
        OrderScreen(principal, result.value.page.order.id).build(result.value)
    return None
