"""Customer page: profile, identities (with an audited reveal), tags, notes, owner and change history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nicegui import ui
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth import service as auth_service
from guanxi.auth.permissions import is_allowed, visibility
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.pages import customer_360, loyalty_card
from guanxi.console.session import guard, tr
from guanxi.console.widgets import (
    EMPTY,
    card,
    choice,
    facts,
    local_time,
    notice,
    pydantic_field_errors,
    set_field_error,
    show,
)
from guanxi.customers import notes
from guanxi.customers import service as customers
from guanxi.customers.schemas import CustomerDetail, IdentityOut, NoteIn, NoteOut, TagIn
from guanxi.kit.errors import NotFound
from guanxi.kit.masking import Visibility
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

REVEAL_ACTION = "customer.reveal"


@dataclass(frozen=True)
class HistoryEntry:
    action: str
    fields: list[str]
    actor: str
    occurred_at: datetime
    outcome: str


@dataclass(frozen=True)
class CustomerView:
    detail: CustomerDetail
    owner_name: str | None
    notes: list[NoteOut] | None  # None when the role may not read notes
    history: list[HistoryEntry]
    known_tags: list[str]


def load_view(session: Session, principal: Principal, customer_id: str) -> CustomerView:
    detail = customers.customer_detail(session, principal, customer_id)
    owner_name = None
    if detail.owner_id:
        try:
            owner = auth_service.get_user(session, detail.owner_id)
            owner_name = f"{owner.display_name} ({owner.username})"
        except NotFound:
            owner_name = detail.owner_id
    note_list = None
    if is_allowed(principal, "notes", "read"):
        note_list = [NoteOut.model_validate(n) for n in notes.list_notes(session, principal, customer_id)]
    # Reveals are access records, not changes: only roles that read the audit trail see them here.
    show_reveals = is_allowed(principal, "audit", "read")
    history = [
        HistoryEntry(r.action, [str(f) for f in r.fields or []], r.actor_name, r.occurred_at, r.outcome)
        for r in audit.history(session, "customer", detail.id)
        if show_reveals or r.action != REVEAL_ACTION
    ]
    known = notes.popular_tags(session, principal) if is_allowed(principal, "tags", "create") else []
    return CustomerView(detail, owner_name, note_list, history, known)


def action_label(action: str) -> str:
    key = f"action.{action}"
    text = tr(key)
    return action if text == key else text


def fields_label(fields: list[str]) -> str:
    labels: list[str] = []
    for name in fields:
        key = f"field.{name}"
        text = tr(key)
        label = name if text == key else text
        if label not in labels:  # "phone" and "identity.phone" read the same
            labels.append(label)
    return tr("common.separator").join(labels) if labels else EMPTY


class CustomerPage:
    def __init__(self, principal: Principal, view: CustomerView) -> None:
        self.viewer = principal
        self.view = view
        self.customer_id = view.detail.id
        self.tags = list(view.detail.tags)

    def build(self) -> None:
        detail = self.view.detail
        ui.page_title(f"{detail.display_name} · guanxi")
        with ui.row().classes("w-full items-center gap-3"):
            ui.button(icon="arrow_back", on_click=lambda: ui.navigate.to("/customers")).props("flat round dense")
            ui.label(detail.display_name).classes("text-2xl font-medium").mark("customer-name")
            ui.badge(detail.member_no).props("outline").mark("member-no")
            ui.space()
            if is_allowed(self.viewer, "customers", "update"):
                ui.button(
                    tr("customer.edit"),
                    icon="edit",
                    on_click=lambda: ui.navigate.to(f"/customers/{self.customer_id}/edit"),
                ).props("unelevated no-caps").mark("edit-customer")
        with ui.row().classes("w-full gap-4 items-start no-wrap max-md:flex-wrap"):
            with ui.column().classes("flex-[2] min-w-0 gap-4"):
                self._profile()
                loyalty_card.member_section(self.viewer, self.customer_id)
                customer_360.story_section(self.viewer, self.customer_id)
                self._identities()
                self._notes()
                self._history()
            with ui.column().classes("flex-1 min-w-64 gap-4"):
                self._ownership()
                self._tags()

    def _profile(self) -> None:
        d = self.view.detail
        with card(tr("customer.profile"), marker="profile"):
            facts(
                [
                    (tr("field.gender"), choice("gender", d.gender)),
                    (tr("field.birthday"), show(d.birthday)),
                    (tr("field.province"), show(d.province)),
                    (tr("field.city"), show(d.city)),
                    (tr("field.address"), show(d.address)),
                    (tr("field.occupation"), show(d.occupation)),
                    (tr("field.income_band"), choice("income", d.income_band)),
                    (tr("field.preferred_channel"), choice("channel", d.preferred_channel)),
                    (tr("field.preferred_language"), choice("language", d.preferred_language)),
                    (tr("field.source_channel"), choice("source", d.source_channel)),
                    (tr("field.created_at"), local_time(d.created_at)),
                    (tr("field.updated_at"), local_time(d.updated_at)),
                ]
            )

    def _ownership(self) -> None:
        d = self.view.detail
        with card(tr("customer.owner"), marker="ownership"):
            facts([(tr("field.owner_id"), show(self.view.owner_name)), (tr("field.region"), show(d.region))])

    # identities -----------------------------------------------------------------------------

    def _identities(self) -> None:
        with card(tr("customer.identities"), marker="identities") as box:
            self.identity_box = ui.column().classes("w-full gap-1")
            self._render_identities(self.view.detail.identities)
            if self.view.detail.identities and self._may_reveal():
                with box:
                    self.reveal_button = ui.button(tr("customer.reveal"), icon="visibility", on_click=self.reveal)
                    self.reveal_button.props("outline no-caps dense").mark("reveal")

    def _may_reveal(self) -> bool:
        return is_allowed(self.viewer, "customers", "reveal") and visibility(self.viewer) is not Visibility.FULL

    def _render_identities(self, identities: list[IdentityOut]) -> None:
        self.identity_box.clear()
        with self.identity_box:
            if not identities:
                ui.label(tr("customer.no_identities")).classes("text-sm text-slate-500")
                return
            with ui.grid(columns="max-content 1fr max-content").classes("gap-x-6 gap-y-1 text-sm"):
                for ident in identities:
                    label = choice("identity", ident.kind)
                    if ident.namespace:
                        label = f"{label} ({ident.namespace})"
                    ui.label(label).classes("text-slate-500")
                    ui.label(ident.value or tr("customer.hidden")).mark(f"identity-{ident.kind}")
                    ui.label(tr("customer.verified") if ident.verified else "").classes("text-green-700")

    def reveal(self) -> None:
        result = perform(lambda s, p: customers.list_identities(s, p, self.customer_id, reveal=True))
        if result.value is not None:
            self._render_identities(result.value)
            self.reveal_button.set_visibility(False)
            ui.notify(tr("customer.revealed"), type="info")

    # tags -----------------------------------------------------------------------------------

    def _tags(self) -> None:
        with card(tr("customer.tags"), marker="tags"):
            self.tag_box = ui.row().classes("w-full gap-1")
            self._render_tags()
            if is_allowed(self.viewer, "tags", "create"):
                with ui.row().classes("w-full items-start gap-2 no-wrap"):
                    self.tag_input = ui.input(tr("customer.new_tag"), autocomplete=self.view.known_tags)
                    self.tag_input.props("outlined dense").classes("flex-1").mark("tag-input")
                    self.tag_input.on("keydown.enter", self.add_tag)
                    ui.button(icon="add", on_click=self.add_tag).props("flat round dense").mark("add-tag")

    def _render_tags(self) -> None:
        self.tag_box.clear()
        removable = is_allowed(self.viewer, "tags", "delete")
        with self.tag_box:
            if not self.tags:
                ui.label(tr("customer.no_tags")).classes("text-sm text-slate-500")
            for tag in self.tags:
                chip = ui.chip(tag, icon="sell", removable=removable, color="blue-1", text_color="blue-10")
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

    # notes ----------------------------------------------------------------------------------

    def _notes(self) -> None:
        if self.view.notes is None:
            return
        with card(tr("customer.notes"), marker="notes"):
            if is_allowed(self.viewer, "notes", "create"):
                self.note_input = ui.textarea(tr("customer.new_note")).props("outlined dense autogrow")
                self.note_input.classes("w-full").mark("note-input")
                with ui.row().classes("w-full justify-end"):
                    ui.button(tr("customer.add_note"), on_click=self.add_note).props("unelevated no-caps").mark(
                        "add-note"
                    )
            self.note_box = ui.column().classes("w-full gap-2")
            self._render_notes(self.view.notes)

    def _render_notes(self, items: list[NoteOut]) -> None:
        self.note_box.clear()
        with self.note_box:
            if not items:
                ui.label(tr("customer.no_notes")).classes("text-sm text-slate-500")
            for note in items:
                with ui.column().classes("w-full gap-0 border-l-4 border-blue-200 pl-3"):
                    ui.label(f"{note.author_name} · {local_time(note.created_at)}").classes("text-xs text-slate-500")
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
            return [NoteOut.model_validate(n) for n in notes.list_notes(session, principal, self.customer_id)]

        result = perform(work)
        if result.value is not None:
            self.note_input.value = ""
            self._render_notes(result.value)

    # history --------------------------------------------------------------------------------

    def _history(self) -> None:
        with card(tr("customer.history"), marker="history"):
            if not self.view.history:
                ui.label(tr("customer.no_history")).classes("text-sm text-slate-500")
                return
            columns = [
                {"name": n, "label": tr(f"history.{n}"), "field": n, "align": "left"}
                for n in ("when", "action", "fields", "actor")
            ]
            rows = [
                {
                    "id": i,
                    "when": local_time(entry.occurred_at),
                    "action": action_label(entry.action) + ("" if entry.outcome == "ok" else f" ({entry.outcome})"),
                    "fields": fields_label(entry.fields),
                    "actor": entry.actor,
                }
                for i, entry in enumerate(self.view.history)
            ]
            ui.table(rows=rows, columns=columns, row_key="id").props("flat dense").classes("w-full").mark(
                "history-table"
            )


def customer_page(request: Request, customer_id: str) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/customers"):
        result = perform(lambda s, p: load_view(s, p, customer_id), principal=principal, write=False)
        if result.value is None:
            notice(tr("error.not_found") if isinstance(result.error, NotFound) else tr("customer.unavailable"))
            ui.link(tr("customer.back"), "/customers")
            return None
        CustomerPage(principal, result.value).build()
    return None
