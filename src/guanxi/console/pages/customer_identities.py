"""The customer page's identities: masked as the viewer sees them, an audited reveal, and adding,
editing and removing them.

Writes go through `customers.identity_service` (add_identity / remove_identity), as the API's
do: the same permission checks, normalization, conflict rules and audit. Editing is replacing: the
new value is added and the old one removed in one unit of work, so a failed add leaves the old one
in place.
A conflict names the customer who holds the identity by name and member number, as the viewer's
masking allows, with a link to them.
"""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui
from pydantic import ValidationError
from sqlalchemy.orm import Session

from guanxi.auth.permissions import is_allowed, visibility
from guanxi.console.actions import notify_error, perform
from guanxi.console.session import language, tr
from guanxi.console.widgets import apply_field_errors, card, choice, pydantic_field_errors, set_field_error
from guanxi.customers import identities as identity_store
from guanxi.customers import identity_service
from guanxi.customers.normalize import NAMESPACED_KINDS, IdentityKind
from guanxi.customers.schemas import IdentityIn, IdentityOut
from guanxi.kit.errors import Conflict, DomainError, FieldError
from guanxi.kit.masking import Visibility
from guanxi.kit.principal import Principal

# Staff add what a customer tells them or shows them; device ids arrive with events only.
EDITABLE_KINDS = [k.value for k in IdentityKind if k is not IdentityKind.ANONYMOUS_ID]


def namespace_label(kind: str) -> str:
    key = f"identities.namespace.{kind}"
    text = tr(key)
    return text if text != key else tr("identities.namespace")


def namespace_name(namespace: str) -> str:
    """A source system that is also a channel (jd, tmall) by its display name; an app id as it is."""
    key = f"source.{namespace}"
    text = tr(key)
    return text if text != key else namespace


class IdentityDialog:
    """Add an identity, or replace one (`editing`): kind, value, namespace where the kind has one."""

    def __init__(self, section: IdentitiesSection, editing: IdentityOut | None) -> None:
        self.section = section
        self.editing = editing
        with ui.dialog() as self.dialog, ui.card().classes("w-[28rem] max-w-full gap-3").mark("identity-dialog"):
            ui.label(tr("identities.edit_title" if editing else "identities.add_title")).classes("text-lg font-medium")
            kinds = {k: choice("identity", k) for k in EDITABLE_KINDS}
            start = editing.kind if editing else IdentityKind.PHONE.value
            self.kind = ui.select(kinds, label=tr("identities.kind"), value=start, on_change=self._kind_changed)
            self.kind.props("outlined dense options-dense").classes("w-full").mark("identity-kind")
            self.kind.set_enabled(editing is None)
            # A masked value cannot be edited in place: the field starts empty unless shown in full.
            known = editing.value if editing and visibility(section.viewer) is Visibility.FULL else None
            self.value = ui.input(tr("identities.value"), value=known or "").props("outlined dense")
            self.value.classes("w-full").mark("identity-value")
            self.namespace = ui.input(namespace_label(start), value=editing.namespace if editing else "")
            self.namespace.props("outlined dense").classes("w-full").mark("identity-namespace")
            self.verified = ui.checkbox(tr("identities.verified"), value=bool(editing and editing.verified))
            self.verified.mark("identity-verified")
            self.problem = ui.column().classes("w-full gap-1").mark("identity-problem")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=self.dialog.close).props("flat no-caps").mark("identity-cancel")
                ui.button(tr("form.save"), on_click=self.save).props("unelevated no-caps").mark("identity-save")
        self._kind_changed()

    def _kind_changed(self) -> None:
        kind = str(self.kind.value or "")
        self.namespace.set_visibility(kind in {k.value for k in NAMESPACED_KINDS})
        self.namespace.label = namespace_label(kind) if kind else ""

    def open(self) -> None:
        self.dialog.open()

    def _clear(self) -> None:
        for element in (self.kind, self.value, self.namespace):
            set_field_error(element, None)
        self.problem.clear()

    def save(self) -> None:
        self._clear()
        namespace = (self.namespace.value or "").strip() if self.namespace.visible else ""
        try:
            item = IdentityIn(
                kind=self.kind.value,
                value=(self.value.value or "").strip(),
                namespace=namespace,
                verified=self.verified.value,
            )
        except ValidationError as exc:
            self._show_errors(pydantic_field_errors(exc))
            return
        customer_id = self.section.customer_id
        old = self.editing

        def work(session: Session, principal: Principal) -> list[IdentityOut]:
            row = identity_service.add_identity(session, principal, customer_id, item)
            if old is not None and row.id != old.id:
                identity_service.remove_identity(session, principal, customer_id, old.id)
            return identity_service.list_identities(session, principal, customer_id)

        result = perform(work, notify=False)
        if result.error is not None:
            self._show_domain_error(result.error)
            return
        self.dialog.close()
        ui.notify(tr("identities.saved"), type="positive")
        self.section.changed(result.value or [])

    def _show_errors(self, errors: list[FieldError]) -> None:
        fields: dict[str, ui.element] = {"kind": self.kind, "value": self.value, "namespace": self.namespace}
        for text in apply_field_errors(fields, errors):
            ui.label(text).classes("text-sm text-red-800").move(self.problem)

    def _show_domain_error(self, error: DomainError) -> None:
        if isinstance(error, Conflict) and error.extra.get("existing_customer_id"):
            text = identity_store.taken_text(error, language())
            set_field_error(self.value, text)
            with self.problem, ui.row().classes("w-full items-center gap-2 rounded bg-red-50 px-3 py-2 text-red-800"):
                ui.label(text).classes("text-sm").mark("identity-conflict")
                ui.link(tr("form.open_existing"), f"/customers/{error.extra['existing_customer_id']}").mark(
                    "identity-conflict-link"
                )
            return
        if error.errors and error.status in (400, 409, 422):
            self._show_errors(error.errors)
            return
        notify_error(error)


class IdentitiesSection:
    def __init__(
        self, viewer: Principal, customer_id: str, identities: list[IdentityOut], *, on_change: Callable[[], None]
    ) -> None:
        self.viewer = viewer
        self.customer_id = customer_id
        self.identities = identities
        self.on_change = on_change
        self.may_edit = is_allowed(viewer, "customers", "update")

    def build(self) -> None:
        with card(tr("customer.identities"), marker="identities") as box:
            with ui.row().classes("w-full items-center gap-2"):
                ui.space()
                if self.may_edit:
                    ui.button(
                        tr("identities.add"), icon="add", on_click=lambda: IdentityDialog(self, None).open()
                    ).props("flat dense no-caps").mark("add-identity")
            self.box = ui.column().classes("w-full gap-0")
            self._render(self.identities)
            if self.identities and self._may_reveal():
                with box:
                    self.reveal_button = ui.button(tr("customer.reveal"), icon="visibility", on_click=self.reveal)
                    self.reveal_button.props("outline no-caps dense").mark("reveal")

    def _may_reveal(self) -> bool:
        return is_allowed(self.viewer, "customers", "reveal") and visibility(self.viewer) is not Visibility.FULL

    def _render(self, identities: list[IdentityOut]) -> None:
        self.identities = identities
        self.box.clear()
        with self.box:
            if not identities:
                ui.label(tr("customer.no_identities")).classes("text-sm text-slate-500")
                return
            for ident in identities:
                self._row(ident)

    def _row(self, ident: IdentityOut) -> None:
        with ui.row().classes("w-full items-center gap-x-3 gap-y-0 py-1 border-b border-slate-100 no-wrap"):
            with ui.column().classes("gap-0 min-w-0 flex-1"):
                label = choice("identity", ident.kind)
                if ident.namespace:
                    label = f"{label} · {namespace_name(ident.namespace)}"
                ui.label(label).classes("text-xs text-slate-500")
                ui.label(ident.value or tr("customer.hidden")).classes("break-all").mark(f"identity-{ident.kind}")
            if ident.verified:
                ui.icon("verified", size="xs").classes("text-green-700").tooltip(tr("customer.verified"))
            if self.may_edit and ident.kind in EDITABLE_KINDS:
                ui.button(icon="edit", on_click=lambda _, i=ident: IdentityDialog(self, i).open()).props(
                    "flat round dense size=sm"
                ).mark(f"edit-identity-{ident.kind}").tooltip(tr("identities.edit"))
            if self.may_edit:
                ui.button(icon="delete_outline", on_click=lambda _, i=ident: self.confirm_remove(i)).props(
                    "flat round dense size=sm"
                ).mark(f"remove-identity-{ident.kind}").tooltip(tr("identities.remove"))

    def changed(self, identities: list[IdentityOut]) -> None:
        self._render(identities)
        self.on_change()

    def reveal(self) -> None:
        result = perform(lambda s, p: identity_service.list_identities(s, p, self.customer_id, reveal=True))
        if result.value is not None:
            self._render(result.value)
            self.reveal_button.set_visibility(False)
            ui.notify(tr("customer.revealed"), type="info")

    def confirm_remove(self, ident: IdentityOut) -> None:
        shown = ident.value or tr("customer.hidden")
        with ui.dialog() as dialog, ui.card().classes("max-w-full gap-3").mark("remove-identity-dialog"):
            ui.label(tr("identities.remove_confirm", kind=choice("identity", ident.kind), value=shown)).classes(
                "text-base"
            )
            ui.label(tr("identities.remove_hint")).classes("text-sm text-slate-500")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=dialog.close).props("flat no-caps").mark("remove-cancel")
                ui.button(tr("identities.remove"), on_click=lambda: self.remove(ident, dialog)).props(
                    "unelevated no-caps color=negative"
                ).mark("remove-confirm")
        dialog.open()

    def remove(self, ident: IdentityOut, dialog: ui.dialog) -> None:
        def work(session: Session, principal: Principal) -> list[IdentityOut]:
            identity_service.remove_identity(session, principal, self.customer_id, ident.id)
            return identity_service.list_identities(session, principal, self.customer_id)

        result = perform(work)
        dialog.close()
        if result.value is not None:
            ui.notify(tr("identities.removed"), type="positive")
            self.changed(result.value)
