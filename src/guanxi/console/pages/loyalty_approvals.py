"""Points adjustments waiting for a second person: a manager approves (the points move then) or
rejects, with a note. Nobody decides their own request: the buttons are not offered on one's own
rows, and `loyalty.members.points.decide` refuses it anyway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.auth.service import require
from guanxi.console.actions import notify_error, perform
from guanxi.console.pages.loyalty_common import loyalty_frame, points_change
from guanxi.console.session import guard, tr
from guanxi.console.widgets import EMPTY, card, choice, local_time, notice, page_title, show
from guanxi.customers import service as customers
from guanxi.kit.errors import NotAuthenticated, PermissionDenied
from guanxi.kit.principal import Principal
from guanxi.loyalty.members import points
from guanxi.loyalty.program.schemas import AdjustmentOut

PATH = "/loyalty/approvals"
STATUSES = ("pending", "applied", "rejected")
ACTIONS_CELL = r"""
<q-td :props="props">
  <div v-if="props.row.can_decide" class="row no-wrap q-gutter-xs">
    <q-btn dense unelevated no-caps color="positive" :label="props.row.approve_label"
           @click.stop="$parent.$emit('approve', props.row)" />
    <q-btn dense outline no-caps color="negative" :label="props.row.reject_label"
           @click.stop="$parent.$emit('reject', props.row)" />
  </div>
  <span v-else class="text-grey-7 text-caption">{{ props.row.why_not }}</span>
</q-td>
"""
CUSTOMER_CELL = r"""
<q-td :props="props">
  <a :href="'/customers/' + props.row.customer_id" class="text-primary no-underline">{{ props.value }}</a>
</q-td>
"""


@dataclass(frozen=True)
class PendingRow:
    item: AdjustmentOut
    member_no: str


def load_requests(session: Session, principal: Principal, status: str) -> list[PendingRow]:
    found = points.list_adjustments(session, principal, status=status)
    out = []
    for item in found:  # the service has kept only customers in the caller's scope
        member_no = customers.get_customer(session, principal, item.customer_id).member_no if item.customer_id else ""
        out.append(PendingRow(item, member_no))
    return out


def request_row(request: PendingRow, viewer: Principal) -> dict[str, Any]:
    item = request.item
    own = item.requested_by == viewer.id
    may = is_allowed(viewer, "points", "approve")
    return {
        "id": item.id,
        "customer_id": item.customer_id,
        "customer": request.member_no or item.customer_id,
        "created_at": local_time(item.created_at),
        "points": points_change(item.points),
        "reason": item.reason,
        "requested_by": item.requested_by_name,
        "status": choice("loyalty.approval_status", item.status),
        "decided_at": local_time(item.decided_at) if item.decided_at else EMPTY,
        "note": show(item.decision_note),
        "can_decide": item.status == "pending" and may and not own,
        "why_not": tr("loyalty.approvals.own") if item.status == "pending" and may and own else "",
        "approve_label": tr("loyalty.approvals.approve"),
        "reject_label": tr("loyalty.approvals.reject"),
    }


class ApprovalsPage:
    def __init__(self, principal: Principal) -> None:
        self.viewer = principal
        self.first: Principal | None = principal
        self.pending_decision: tuple[str, bool] | None = None

    def build(self) -> None:
        with ui.row().classes("w-full items-center gap-2"):
            statuses = {s: choice("loyalty.approval_status", s) for s in STATUSES}
            self.status = ui.toggle(statuses, value="pending", on_change=lambda: self.load())
            self.status.props("no-caps dense unelevated toggle-color=primary").mark("approval-status")
        with card(tr("loyalty.approvals.list"), marker="approvals"):
            names = ("created_at", "customer", "points", "reason", "requested_by", "status", "decided_at", "note")
            columns = [{"name": n, "label": tr(f"loyalty.approvals.{n}"), "field": n, "align": "left"} for n in names]
            columns[2]["align"] = "right"
            columns.append({"name": "actions", "label": "", "field": "id", "align": "left"})
            self.table = ui.table(rows=[], columns=columns, row_key="id").props("flat dense wrap-cells")
            self.table.classes("w-full").mark("approvals-table")
            self.table.add_slot("body-cell-actions", ACTIONS_CELL)
            self.table.add_slot("body-cell-customer", CUSTOMER_CELL)
            self.table.on("approve", lambda e: self.ask(e.args, approve=True))
            self.table.on("reject", lambda e: self.ask(e.args, approve=False))
            self.empty = ui.label(tr("loyalty.approvals.empty")).classes("text-sm text-slate-500")
            self.empty.mark("approvals-empty")
        self._dialog()
        self.load()

    def _dialog(self) -> None:
        with ui.dialog() as self.dialog, ui.card().classes("w-[28rem] max-w-full gap-3"):
            self.dialog_title = ui.label("").classes("text-lg font-medium")
            self.dialog_summary = ui.label("").classes("text-sm text-slate-600").mark("decision-summary")
            self.note = ui.textarea(tr("loyalty.approvals.decision_note")).props("outlined dense autogrow")
            self.note.classes("w-full").mark("decision-note")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=self.dialog.close).props("flat no-caps")
                self.confirm = ui.button(tr("loyalty.approvals.confirm"), on_click=self.decide)
                self.confirm.props("unelevated no-caps").mark("decision-confirm")

    def load(self) -> None:
        status = self.status.value or "pending"
        result = perform(lambda s, p: load_requests(s, p, status), principal=self.first, write=False)
        self.first = None
        if result.value is None:
            return
        self.table.rows = [request_row(r, self.viewer) for r in result.value]
        self.table.update()
        self.table.set_visibility(bool(result.value))
        self.empty.set_visibility(not result.value)

    def ask(self, row: Any, *, approve: bool) -> None:
        if not isinstance(row, dict) or not row.get("id"):
            return
        self.pending_decision = (str(row["id"]), approve)
        self.dialog_title.set_text(
            tr("loyalty.approvals.approve_title" if approve else "loyalty.approvals.reject_title")
        )
        self.dialog_summary.set_text(
            tr(
                "loyalty.approvals.summary",
                points=row.get("points", ""),
                customer=row.get("customer", ""),
                reason=row.get("reason", ""),
            )
        )
        self.note.value = ""
        self.dialog.open()

    def decide(self) -> None:
        if self.pending_decision is None:
            return
        request_id, approve = self.pending_decision
        note = (self.note.value or "").strip() or None
        if note is not None and len(note) > 500:
            self.note.props["error"] = True
            self.note.props["error-message"] = tr("error.pydantic.string_too_long", max_length=500)
            self.note.update()
            return
        result = perform(lambda s, p: points.decide(s, p, request_id, approve=approve, note=note), notify=False)
        self.dialog.close()
        self.pending_decision = None
        if isinstance(result.error, PermissionDenied) and is_allowed(self.viewer, "points", "approve"):
            # The role may approve, so the refusal is the four-eyes rule: this is one's own request.
            ui.notify(tr("loyalty.approvals.own_refused"), type="negative")
        elif result.error is not None and result.error.status != 500 and not isinstance(result.error, NotAuthenticated):
            notify_error(result.error)
        if result.value is not None:
            key = "loyalty.approvals.approved" if approve else "loyalty.approvals.rejected"
            ui.notify(tr(key), type="positive")
        self.load()


def approvals_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with loyalty_frame(principal, PATH):
        page_title(tr("loyalty.approvals.title"))
        allowed = perform(lambda s, p: require(p, "points", "read"), principal=principal, write=False)
        if not allowed.ok:
            notice(tr("error.permission_denied"))
            return None
        ApprovalsPage(principal).build()
    return None
