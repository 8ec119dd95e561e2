"""Customer page: a header card (name, member number, tier, points, owner, tags, key actions) over
tabs — 概览 · 订单 · 积分 · 优惠券 · 行为 · 备注 · 变更记录, and 访问记录 for roles that read the
audit trail.

A tab's content is built the first time it is opened (orders, points, coupons and the timeline
each cost queries, and reading the timeline is audited), and the two history tabs again each time,
so they show what was just done. `?tab=<name>` opens the page on a tab.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nicegui import ui
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth import service as auth_service
from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import error_text, perform
from guanxi.console.layout import frame
from guanxi.console.pages import analytics_customer, customer_360, customer_history, loyalty_card
from guanxi.console.pages.customer_identities import IdentitiesSection
from guanxi.console.pages.customer_merge import MergeDialog
from guanxi.console.pages.customer_tabs import CouponsPanel, NotesPanel, OrdersPanel
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import (
    BRAND,
    EMPTY,
    card,
    choice,
    notice,
    place,
    pydantic_field_errors,
    set_field_error,
    show,
)
from guanxi.customers import notes
from guanxi.customers import service as customers
from guanxi.customers.models import Customer
from guanxi.customers.schemas import CustomerDetail, TagIn
from guanxi.kit import formatting
from guanxi.kit.errors import NotFound
from guanxi.kit.principal import Principal
from guanxi.loyalty.members import card as member_card
from guanxi.loyalty.program.schemas import CardOut

# (tab, the permission that shows it); 概览 and 变更记录 need only the customer itself.
TABS: tuple[tuple[str, tuple[str, str] | None], ...] = (
    ("overview", None),
    ("orders", ("orders", "read")),
    ("points", ("loyalty", "read")),
    ("coupons", ("coupons", "read")),
    ("behaviour", ("events", "read")),
    ("notes", ("notes", "read")),
    ("history", None),
    ("access", ("audit", "read")),
)
REBUILT = frozenset({"history", "access"})


@dataclass(frozen=True)
class CustomerView:
    detail: CustomerDetail
    owner_name: str | None
    card: CardOut | None  # None when the role may not read member cards
    known_tags: list[str]
    refused_profiling: bool = False  # no scores are kept for who refused profiling


def load_view(session: Session, principal: Principal, customer_id: str) -> CustomerView:
    detail = customers.customer_detail(session, principal, customer_id)
    owner_name = None
    if detail.owner_id:
        try:
            owner = auth_service.get_user(session, detail.owner_id)
            owner_name = f"{owner.display_name} ({owner.username})"
        except NotFound:
            owner_name = tr("customer.owner_unknown")
    member = member_card.get_card(session, principal, customer_id) if is_allowed(principal, "loyalty", "read") else None
    known = notes.popular_tags(session, principal) if is_allowed(principal, "tags", "create") else []
    row = session.get(Customer, customer_id) if detail.scores is None else None
    return CustomerView(detail, owner_name, member, known, bool(row is not None and row.profiling_opt_out))


def visible_tabs(principal: Principal) -> list[str]:
    return [name for name, needs in TABS if needs is None or is_allowed(principal, *needs)]


class CustomerPage:
    def __init__(self, principal: Principal, view: CustomerView, first_tab: str | None) -> None:
        self.viewer = principal
        self.view = view
        self.customer_id = view.detail.id
        self.tags = list(view.detail.tags)
        self.tab_names = visible_tabs(principal)
        self.first_tab = first_tab if first_tab in self.tab_names else "overview"
        self.built: set[str] = set()
        self.panels: dict[str, ui.tab_panel] = {}
        self.notes_panel: NotesPanel | None = None

    def build(self) -> None:
        detail = self.view.detail
        ui.page_title(f"{detail.display_name} · {BRAND}")
        self._header()
        with ui.card().classes("w-full p-0 gap-0"):
            with ui.tabs() as self.tabs:
                self.tabs.props("align=left inline-label outside-arrows mobile-arrows dense no-caps")
                self.tabs.classes("w-full text-slate-700").mark("customer-tabs")
                tabs = {
                    name: ui.tab(name, label=tr(f"customer.tab.{name}")).mark(f"tab-{name}") for name in self.tab_names
                }
            self.tabs.value = tabs[self.first_tab]
            self.tabs.on_value_change(lambda e: self.open_tab(str(e.value)))
            ui.separator()
            with ui.tab_panels(self.tabs, value=self.first_tab, animated=False).classes("w-full bg-transparent"):
                for name in self.tab_names:
                    self.panels[name] = ui.tab_panel(name).classes("p-3 sm:p-4 gap-4").mark(f"panel-{name}")
        self.open_tab(self.first_tab)

    # header -----------------------------------------------------------------------------------

    def _header(self) -> None:
        d = self.view.detail
        with ui.card().classes("w-full gap-3").mark("customer-header"):
            with ui.row().classes("w-full items-center gap-x-3 gap-y-2"):
                ui.button(icon="arrow_back", on_click=lambda: ui.navigate.to("/customers")).props(
                    "flat round dense"
                ).tooltip(tr("customer.back"))
                ui.label(d.display_name).classes("text-2xl font-medium break-all").mark("customer-name")
                ui.badge(d.member_no).props("outline color=grey-8").mark("member-no")
                ui.space()
                self._actions()
            with ui.element("div").classes("grid grid-cols-2 md:grid-cols-4 gap-2 w-full"):
                lang = language()
                c = self.view.card
                if c is not None:
                    self._figure(tr("loyalty.card.balance"), formatting.number(c.points_balance, lang), "header-points")
                    self._figure(tr("customer.header.tier"), loyalty_card.tier_name(c.tier), "header-tier-name")
                self._figure(tr("customer.owner"), show(self.view.owner_name), "header-owner")
                self._figure(tr("field.source_channel"), choice("source", d.source_channel), "header-source")
                if c is None:
                    self._figure(tr("field.created_at"), formatting.day(d.created_at, lang), "header-created")
            self._tags()

    def _figure(self, label: str, value: str, marker: str) -> None:
        with ui.column().classes("gap-0 rounded bg-slate-50 px-3 py-2 min-w-0"):
            ui.label(label).classes("text-xs text-slate-500")
            ui.label(value).classes("text-lg font-medium truncate").mark(marker)

    def _actions(self) -> None:
        with ui.row().classes("items-center gap-2"):
            if is_allowed(self.viewer, "notes", "create") and "notes" in self.tab_names:
                ui.button(tr("customer.add_note"), icon="sticky_note_2", on_click=self.go_add_note).props(
                    "outline dense no-caps"
                ).mark("header-add-note")
            if is_allowed(self.viewer, "merges", "create"):
                ui.button(tr("customer.merge"), icon="call_merge", on_click=self.open_merge).props(
                    "outline dense no-caps"
                ).mark("merge-customer")
            if is_allowed(self.viewer, "customers", "update"):
                ui.button(
                    tr("customer.edit"),
                    icon="edit",
                    on_click=lambda: ui.navigate.to(f"/customers/{self.customer_id}/edit"),
                ).props("unelevated dense no-caps").mark("edit-customer")

    def open_merge(self) -> None:
        MergeDialog(self.viewer, self.view.detail).open()

    def go_add_note(self) -> None:
        self.tabs.set_value("notes")
        if self.notes_panel is not None:
            self.notes_panel.focus()

    # tags -------------------------------------------------------------------------------------

    def _tags(self) -> None:
        with ui.row().classes("w-full items-center gap-1").mark("tags"):
            ui.icon("sell").classes("text-slate-400")
            self.tag_box = ui.row().classes("gap-1 items-center")
            self._render_tags()
            if is_allowed(self.viewer, "tags", "create"):
                self.tag_input = ui.input(placeholder=tr("customer.new_tag"), autocomplete=self.view.known_tags)
                self.tag_input.props("dense borderless").classes("w-32").mark("tag-input")
                self.tag_input.on("keydown.enter", self.add_tag)
                ui.button(icon="add", on_click=self.add_tag).props("flat round dense size=sm").mark("add-tag")

    def _render_tags(self) -> None:
        self.tag_box.clear()
        removable = is_allowed(self.viewer, "tags", "delete")
        with self.tag_box:
            if not self.tags:
                ui.label(tr("customer.no_tags")).classes("text-sm text-slate-500")
            for tag in self.tags:
                chip = ui.chip(tag, removable=removable, color="blue-1", text_color="blue-10")
                chip.props("dense").mark(f"tag-{tag}")
                if removable:
                    chip.on("remove", lambda _, t=tag: self.remove_tag(t))

    def add_tag(self) -> None:
        set_field_error(self.tag_input, None)
        try:
            tag = TagIn(tag=self.tag_input.value or "").tag
        except ValidationError as exc:
            set_field_error(self.tag_input, pydantic_field_errors(exc)[0].message)
            return
        result = perform(lambda s, p: notes.add_tag(s, p, self.customer_id, tag))
        if result.value is not None:
            self.tags = result.value
            self.tag_input.value = ""
            self._render_tags()

    def remove_tag(self, tag: str) -> None:
        result = perform(lambda s, p: notes.remove_tag(s, p, self.customer_id, tag))
        if result.value is not None:
            self.tags = result.value
        self._render_tags()

    # tabs -------------------------------------------------------------------------------------

    def open_tab(self, name: str) -> None:
        panel = self.panels.get(name)
        if panel is None or (name in self.built and name not in REBUILT):
            return
        panel.clear()
        builders: dict[str, Callable[[], None]] = {
            "overview": self._overview,
            "orders": lambda: OrdersPanel(self.viewer, self.customer_id).build(),
            "points": lambda: loyalty_card.member_section(self.viewer, self.customer_id),
            "coupons": lambda: CouponsPanel(self.viewer, self.customer_id).build(),
            "behaviour": self._behaviour,
            "notes": self._notes,
            "history": lambda: customer_history.changes_panel(self.viewer, self.customer_id),
            "access": lambda: customer_history.access_panel(self.viewer, self.customer_id),
        }
        with panel:
            builders[name]()
        self.built.add(name)

    def _overview(self) -> None:
        # Two columns from 1024 px, one below (a phone reads the identities after the profile).
        with ui.element("div").classes("grid grid-cols-1 lg:grid-cols-5 gap-4 w-full items-start"):
            with ui.column().classes("lg:col-span-3 min-w-0 w-full gap-4"):
                self._profile()
                timeline_box = ui.column().classes("w-full gap-4")
            with ui.column().classes("lg:col-span-2 min-w-0 w-full gap-4"):
                if analytics_customer.shown_to(self.viewer):
                    analytics_customer.ScoresSection(
                        self.viewer, self.customer_id, self.view.detail.scores, refused=self.view.refused_profiling
                    ).build()
                IdentitiesSection(
                    self.viewer, self.customer_id, self.view.detail.identities, on_change=self._identities_changed
                ).build()
                story = customer_360.story_cards(self.viewer, self.customer_id)
        with timeline_box:
            customer_360.TimelineSection(self.viewer, self.customer_id).build(story)

    def _identities_changed(self) -> None:
        self.built.discard("history")

    def _behaviour(self) -> None:
        customer_360.TimelineSection(
            self.viewer, self.customer_id, kinds=["event"], title=tr("customer.behaviour_title")
        ).build()

    def _notes(self) -> None:
        self.notes_panel = NotesPanel(self.viewer, self.customer_id)
        self.notes_panel.build()

    def _profile(self) -> None:
        d = self.view.detail
        lang = language()
        with card(tr("customer.profile"), marker="profile"):
            rows = [
                (tr("field.gender"), choice("gender", d.gender)),
                (tr("field.birthday"), formatting.day(d.birthday, lang) if d.birthday else EMPTY),
                (tr("field.province"), place(d.province)),
                (tr("field.city"), place(d.city)),
                (tr("field.district"), place(d.district)),
                (tr("field.address"), show(d.address)),
                (tr("field.occupation"), show(d.occupation)),
                (tr("field.income_band"), choice("income", d.income_band)),
                (tr("field.preferred_channel"), choice("channel", d.preferred_channel)),
                (tr("field.preferred_language"), choice("language", d.preferred_language)),
                (tr("field.source_channel"), choice("source", d.source_channel)),
                (tr("field.region"), show(d.region)),
                (tr("field.created_at"), formatting.moment(d.created_at, lang)),
                (tr("field.updated_at"), formatting.moment(d.updated_at, lang)),
            ]
            # Label / value pairs, two pairs a line from 640 px: one grid, so the columns line up.
            grid = "grid grid-cols-[max-content_1fr] sm:grid-cols-[max-content_1fr_max-content_1fr]"
            with ui.element("div").classes(f"{grid} gap-x-6 gap-y-1 text-sm w-full"):
                for label, value in rows:
                    ui.label(label).classes("text-slate-500")
                    ui.label(value).classes("break-words")


def customer_page(request: Request, customer_id: str) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/customers"):
        result = perform(lambda s, p: load_view(s, p, customer_id), principal=principal, write=False)
        if result.value is None:
            notice(error_text(result.error) if result.error is not None else tr("customer.unavailable"))
            ui.link(tr("customer.back"), "/customers")
            return None
        CustomerPage(principal, result.value, request.query_params.get("tab")).build()
    return None
