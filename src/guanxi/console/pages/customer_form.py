"""Create and edit a customer. Every error lands next to the field it is about.

Input-model errors (Pydantic) and the service's ValidationFailed both name schema fields
(name, phone, birthday, ...), so one mapping places both. An identity that already belongs to
someone else (409) says so on the field, naming that customer by name and member number, and links
to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nicegui import ui
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth import service as auth_service
from guanxi.auth.permissions import is_allowed, visibility
from guanxi.console.actions import error_text, notify_error, perform
from guanxi.console.layout import frame
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import (
    apply_field_errors,
    blank_to_none,
    card,
    date_input,
    notice,
    options,
    page_title,
    pydantic_field_errors,
    set_field_error,
)
from guanxi.customers import identities as identity_store
from guanxi.customers import service as customers
from guanxi.customers.schemas import (
    CHANNELS,
    GENDERS,
    INCOME_BANDS,
    SOURCE_CHANNELS,
    CustomerCreate,
    CustomerDetail,
    CustomerUpdate,
)
from guanxi.kit.errors import Conflict, DomainError, FieldError
from guanxi.kit.masking import Visibility
from guanxi.kit.principal import Principal

IDENTITY_FIELDS = ("phone", "email", "resident_id")
TEXT_FIELDS = ("province", "city", "district", "region", "occupation", "address")
LANGUAGE_CHOICES = ("zh-CN", "en")


@dataclass(frozen=True)
class FormData:
    detail: CustomerDetail | None  # None when creating
    staff: dict[str, str] | None  # owner choices, when the role may list staff users


def load_form(session: Session, principal: Principal, customer_id: str | None) -> FormData:
    if customer_id is None:
        auth_service.require(principal, "customers", "create")
        detail = None
    else:
        auth_service.require(principal, "customers", "update")
        detail = customers.customer_detail(session, principal, customer_id)
    staff = None
    if is_allowed(principal, "users", "read"):
        staff = {
            u.id: f"{u.display_name} ({u.username})"
            for u in auth_service.list_users(session, principal)
            if u.is_active or (detail is not None and u.id == detail.owner_id)
        }
    return FormData(detail, staff)


def initial_values(detail: CustomerDetail, address_visible: bool) -> dict[str, Any]:
    return {
        "name": detail.name,
        "gender": detail.gender,
        "birthday": detail.birthday.isoformat() if detail.birthday else None,
        "province": detail.province,
        "city": detail.city,
        "district": detail.district,
        "region": detail.region,
        "occupation": detail.occupation,
        "address": detail.address if address_visible else None,
        "income_band": detail.income_band,
        "preferred_channel": detail.preferred_channel,
        "preferred_language": detail.preferred_language,
        "source_channel": detail.source_channel,
        "owner_id": detail.owner_id,
    }


class CustomerForm:
    def __init__(self, principal: Principal, data: FormData) -> None:
        self.detail = data.detail
        self.staff = data.staff
        # A masked address cannot be edited in place: the field starts empty and is only sent if typed.
        self.address_visible = visibility(principal) is Visibility.FULL
        self.initial: dict[str, Any] = (
            initial_values(data.detail, self.address_visible) if data.detail else {"preferred_language": "zh-CN"}
        )
        self.fields: dict[str, ui.element] = {}

    @property
    def editing(self) -> bool:
        return self.detail is not None

    def _input(self, name: str, *, required: bool = False, hint: str | None = None) -> None:
        label = tr(f"field.{name}") + (" *" if required else "")
        element = ui.input(label, value=self.initial.get(name) or "").props("outlined dense").classes("w-full")
        if hint:
            element.props["hint"] = hint
        self.fields[name] = element.mark(f"field-{name}")

    def _select(self, name: str, choices: dict[str, str], *, clearable: bool = True) -> None:
        element = ui.select(choices, label=tr(f"field.{name}"), value=self.initial.get(name), clearable=clearable)
        self.fields[name] = element.props("outlined dense options-dense").classes("w-full").mark(f"field-{name}")

    def build(self) -> None:
        grid = "grid grid-cols-1 md:grid-cols-3 gap-x-4 gap-y-2 w-full"
        with card(tr("form.basic")), ui.element("div").classes(grid):
            self._input("name", required=True)
            self._select("gender", options("gender", GENDERS))
            date = date_input(tr("field.birthday"), value=self.initial.get("birthday") or "")
            self.fields["birthday"] = date.props("outlined dense").classes("w-full").mark("field-birthday")
        if not self.editing:
            with card(tr("form.contact")), ui.element("div").classes(grid):
                for name in IDENTITY_FIELDS:
                    self._input(name)
        with card(tr("form.location")), ui.element("div").classes(grid):
            for name in ("province", "city", "district", "region"):
                self._input(name)
            with ui.element("div").classes("md:col-span-3"):
                hint = None if self.address_visible or not self.editing else tr("form.address_hint")
                self._input("address", hint=hint)
        with card(tr("form.preferences")), ui.element("div").classes(grid):
            self._input("occupation")
            self._select("income_band", options("income", INCOME_BANDS))
            self._select("preferred_channel", options("channel", CHANNELS))
            self._select("preferred_language", options("language", LANGUAGE_CHOICES), clearable=False)
            self._select("source_channel", options("source", SOURCE_CHANNELS))
            if self.staff is not None:
                self._select("owner_id", self.staff)
        self.banner = ui.column().classes("w-full gap-1").mark("form-errors")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(tr("form.cancel"), on_click=self.cancel).props("flat no-caps").mark("cancel")
            ui.button(tr("form.save"), icon="save", on_click=self.save).props("unelevated no-caps").mark("save")

    def cancel(self) -> None:
        ui.navigate.to(f"/customers/{self.detail.id}" if self.detail else "/customers")

    def values(self) -> dict[str, Any]:
        return blank_to_none({name: getattr(element, "value", None) for name, element in self.fields.items()})

    def clear_errors(self) -> None:
        for element in self.fields.values():
            if element.props.get("error"):
                set_field_error(element, None)
        self.banner.clear()

    def payload(self) -> CustomerCreate | CustomerUpdate:
        """The input model; an edit sends only the fields that changed."""
        values = self.values()
        if self.detail is None:
            return CustomerCreate(**values)
        # A masked address starts empty, so leaving it empty is no change and keeps the stored one.
        return CustomerUpdate(**{k: v for k, v in values.items() if v != self.initial.get(k)})

    def save(self) -> None:
        self.clear_errors()
        try:
            payload = self.payload()
        except ValidationError as exc:
            self.show_errors(pydantic_field_errors(exc))
            return
        if isinstance(payload, CustomerCreate):
            result = perform(lambda s, p: customers.create_customer(s, p, payload).id, notify=False)
        else:
            assert self.detail is not None
            customer_id = self.detail.id
            result = perform(lambda s, p: customers.update_customer(s, p, customer_id, payload).id, notify=False)
        if result.error is not None:
            self.show_domain_error(result.error)
            return
        ui.notify(tr("form.saved" if self.editing else "form.created"), type="positive")
        ui.navigate.to(f"/customers/{result.value}")

    def show_errors(self, errors: list[FieldError]) -> None:
        unplaced = apply_field_errors(self.fields, errors)
        with self.banner:
            notice(tr("form.fix_errors"), kind="error")
            for text in unplaced:
                ui.label(text).classes("text-sm text-red-800")

    def show_domain_error(self, error: DomainError) -> None:
        if isinstance(error, Conflict) and error.extra.get("existing_customer_id"):
            other = str(error.extra["existing_customer_id"])
            named = error.key == identity_store.TAKEN_KEY
            taken = tr("form.taken", **error.params) if named else identity_store.taken_text(error, language())
            for item in error.errors:
                if item.field in self.fields:
                    set_field_error(self.fields[item.field], taken)
            with self.banner, ui.row().classes("w-full items-center gap-2 rounded bg-red-50 px-4 py-3 text-red-800"):
                ui.label(taken).mark("conflict")
                ui.link(tr("form.open_existing"), f"/customers/{other}").mark("conflict-link")
            return
        if error.errors and error.status in (400, 409, 422):
            self.show_errors(error.errors)
            return
        if error.status != 500:  # unexpected errors were already reported by perform
            notify_error(error)


def _form_page(request: Request, customer_id: str | None) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/customers"):
        title = tr("form.edit_title") if customer_id else tr("form.new_title")
        page_title(title)
        result = perform(lambda s, p: load_form(s, p, customer_id), principal=principal, write=False)
        if result.value is None:
            # The page says why in place (a denial, a customer out of scope), once.
            notice(error_text(result.error) if result.error is not None else tr("customer.unavailable"))
            return None
        CustomerForm(principal, result.value).build()
    return None


def new_customer_page(request: Request) -> Response | None:
    return _form_page(request, None)


def edit_customer_page(request: Request, customer_id: str) -> Response | None:
    return _form_page(request, customer_id)
