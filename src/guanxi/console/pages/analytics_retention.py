"""Retention worklist page: the customers the churn warning picked out, within the reader's row
scope (a salesperson: their own customers), with the reasons in words and one-click actions that
go through the services that own them: issue a coupon (`loyalty.catalog.coupons.issue`), add a
note (`customers.notes.add_note`), mark contacted (`analytics.retention.mark_contacted`). Above
the list, what the worklist achieved: entered, contacted, won back, lost, and the win-back rates
of contacted and uncontacted customers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.analytics import presenter, retention
from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import page_title
from guanxi.customers import notes
from guanxi.customers import presenter as customer_presenter
from guanxi.kit import formatting
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import Principal
from guanxi.loyalty.catalog import coupons
from guanxi.loyalty.catalog.schemas import IssueIn

PATH = "/analytics/retention"
PAGE = 50


@dataclass(frozen=True)
class Entry:
    id: str
    customer_id: str
    name: str
    member_no: str
    risk: str
    reasons: list[str]
    entered: str
    status: str
    contacted: str | None
    note: str | None
    open: bool


def _entries(session: Any, actor: Principal, status: str | None, lang: str) -> list[Entry]:
    page = retention.list_items(session, actor, PageRequest(limit=PAGE, sort="risk"), status=status)
    out = []
    for item, customer in page.items:
        shown = customer_presenter.customer_out(customer, [], [], actor)
        out.append(
            Entry(
                id=item.id,
                customer_id=item.customer_id,
                name=shown.name or "",
                member_no=customer.member_no or "",
                risk=formatting.number(round(item.risk, 1), lang),
                reasons=[r.text for r in presenter.reasons_out(item.reasons or [], lang)],
                entered=formatting.day(item.entered_on, lang),
                status=item.status,
                contacted=formatting.moment(item.contacted_at, lang) if item.contacted_at else None,
                note=item.note,
                open=item.status in retention.OPEN,
            )
        )
    return out


def _summary(session: Any, actor: Principal, lang: str) -> list[tuple[str, str]]:
    found = retention.summary(session, actor)

    def rate(value: float | None) -> str:
        return tr("analytics.targets.none") if value is None else formatting.percent(value, lang, decimals=1)

    return [
        ("entered", formatting.number(found.entered, lang)),
        ("contacted", formatting.number(found.contacted, lang)),
        ("won_back", formatting.number(found.won_back, lang)),
        ("lost", formatting.number(found.lost, lang)),
        ("rate_contacted", rate(found.win_back_rate_contacted)),
        ("rate_not_contacted", rate(found.win_back_rate_not_contacted)),
    ]


def analytics_retention_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    status = request.query_params.get("status")
    status = status if status in retention.STATUSES else None
    with frame(principal, PATH):
        page_title(tr("analytics.retention.title"))
        ui.label(tr("analytics.retention.explain")).classes("text-sm text-slate-600")
        lang = language()
        result = perform(
            lambda s, p: (_summary(s, p, lang), _entries(s, p, status, lang)), principal=principal, write=False
        )
        if result.value is None:
            return None
        figures, entries = result.value
        with ui.row().classes("w-full gap-3").mark("retention-summary"):
            for name, value in figures:
                with ui.card().classes("min-w-40 gap-1"):
                    ui.label(tr(f"analytics.retention.summary.{name}")).classes("text-sm text-slate-500")
                    ui.label(value).classes("text-xl font-medium")
        choices = {"": tr("analytics.retention.all")} | {
            s: tr(f"analytics.retention.status.{s}") for s in retention.STATUSES
        }
        ui.select(
            choices,
            label=tr("analytics.retention.filter"),
            value=status or "",
            on_change=lambda e: ui.navigate.to(f"{PATH}?status={e.value}" if e.value else PATH),
        ).classes("w-56").mark("retention-filter")
        if not entries:
            ui.label(tr("analytics.retention.empty")).classes("text-sm text-slate-500").mark("retention-empty")
        for entry in entries:
            _entry(principal, entry)
    return None


def _entry(principal: Principal, entry: Entry) -> None:
    with ui.card().classes("w-full gap-1").mark("retention-item"):
        with ui.row().classes("w-full items-center gap-3"):
            ui.link(entry.name or entry.member_no, f"/customers/{entry.customer_id}").classes("font-medium")
            ui.label(entry.member_no).classes("text-sm text-slate-500")
            ui.label(tr("analytics.retention.risk", risk=entry.risk)).classes("text-sm")
            ui.label(tr(f"analytics.retention.status.{entry.status}")).classes("text-sm text-slate-600")
            ui.space()
            ui.label(tr("analytics.retention.entered", day=entry.entered)).classes("text-xs text-slate-500")
        for reason in entry.reasons:
            ui.label(reason).classes("text-sm text-slate-700")
        if entry.contacted:
            ui.label(tr("analytics.retention.contacted_on", moment=entry.contacted)).classes("text-xs text-slate-500")
        if entry.note:
            ui.label(entry.note).classes("text-sm italic text-slate-600")
        if not entry.open:
            return
        with ui.row().classes("gap-2"):
            if is_allowed(principal, "coupons", "issue"):
                ui.button(
                    tr("analytics.retention.issue_coupon"), icon="redeem", on_click=lambda: _coupon_dialog(entry)
                ).props("flat dense no-caps").mark("retention-coupon")
            if is_allowed(principal, "notes", "create"):
                ui.button(
                    tr("analytics.retention.add_note"),
                    icon="note_add",
                    on_click=lambda: _note_dialog(
                        lambda text: perform(lambda s, p: notes.add_note(s, p, entry.customer_id, text)).ok,
                        "analytics.retention.noted",
                    ),
                ).props("flat dense no-caps").mark("retention-note")
                ui.button(
                    tr("analytics.retention.mark_contacted"),
                    icon="call",
                    on_click=lambda: _note_dialog(
                        lambda text: perform(lambda s, p: retention.mark_contacted(s, p, entry.id, text or None)).ok,
                        "analytics.retention.marked",
                    ),
                ).props("flat dense no-caps").mark("retention-contacted")


def _note_dialog(save: Callable[[str], bool], done_key: str) -> None:
    with ui.dialog() as dialog, ui.card().classes("w-[28rem] max-w-full gap-2").mark("retention-dialog"):
        text = ui.textarea(tr("analytics.retention.note")).props("maxlength=2000").classes("w-full")
        with ui.row().classes("w-full justify-end"):
            ui.button(tr("analytics.retention.cancel"), on_click=dialog.close).props("flat no-caps")

            def confirmed() -> None:
                if save(str(text.value or "").strip()):
                    dialog.close()
                    ui.notify(tr(done_key), type="positive")
                    ui.navigate.to(PATH)

            ui.button(tr("analytics.retention.confirm"), on_click=confirmed).props("unelevated no-caps").mark(
                "retention-confirm"
            )
    dialog.open()


def _coupon_dialog(entry: Entry) -> None:
    lang = language()
    found = perform(lambda s, p: coupons.list_templates(s, p, active=True), write=False)
    if found.value is None:
        return
    choices = {t.id: (t.name_en or t.name) if lang == "en" else t.name for t in found.value}
    with ui.dialog() as dialog, ui.card().classes("w-[28rem] max-w-full gap-2").mark("retention-coupon-dialog"):
        if not choices:
            ui.label(tr("analytics.retention.no_templates")).classes("text-sm")
        picked = ui.select(choices, label=tr("analytics.retention.template")).classes("w-full")
        with ui.row().classes("w-full justify-end"):
            ui.button(tr("analytics.retention.cancel"), on_click=dialog.close).props("flat no-caps")

            def confirmed() -> None:
                if not picked.value:
                    return
                template_id = str(picked.value)
                issued = perform(
                    lambda s, p: coupons.issue(s, p, template_id, IssueIn(customer_ids=[entry.customer_id]), None)
                )
                if issued.ok:
                    dialog.close()
                    ui.notify(tr("analytics.retention.issued"), type="positive")

            ui.button(tr("analytics.retention.confirm"), on_click=confirmed).props("unelevated no-caps").mark(
                "retention-coupon-confirm"
            )
    dialog.open()
