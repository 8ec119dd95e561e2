"""Event types: the registered schemas, retention per type, switching a type off, custom types.

Types are shown by their names and built-in properties by their display names; a custom type's
properties are declared in a row editor (name, type, required), never in a syntax to type.

Writes go through `customers.event_types`, so the API's validation, permissions and audit apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console import session as console_session
from guanxi.console.actions import field_message, notify_error, perform
from guanxi.console.layout import frame
from guanxi.console.paging import Pager
from guanxi.console.session import guard, tr
from guanxi.console.widgets import EMPTY, apply_field_errors, notice, page_title, set_field_error
from guanxi.customers import event_types
from guanxi.customers.event_schema import (
    BUILTIN_PROPERTY_NAMES,
    CODE_PATTERN,
    PROPERTY_NAME_PATTERN,
    PROPERTY_TYPES,
    EventTypeSpec,
)
from guanxi.kit import formatting
from guanxi.kit.errors import DomainError, FieldError, ValidationFailed
from guanxi.kit.principal import Principal


@dataclass(frozen=True)
class PropertyRow:
    """One row of the property editor as staff filled it in."""

    name: str
    kind: str
    required: bool


def check_rows(rows: Sequence[PropertyRow]) -> tuple[dict[str, str], list[str], dict[int, str]]:
    """The declared properties, the required names and, by row index, the catalog key of what is
    wrong with a row. The same rules as the service's schema check, said before it is asked."""
    props: dict[str, str] = {}
    required: list[str] = []
    problems: dict[int, str] = {}
    for index, row in enumerate(rows):
        name = row.name.strip()
        if not name:
            problems[index] = "eventtypes.error.name_missing"
        elif not PROPERTY_NAME_PATTERN.fullmatch(name):
            problems[index] = "eventtypes.error.name_format"
        elif name in props:
            problems[index] = "eventtypes.error.name_taken"
        if index in problems:
            continue
        props[name] = row.kind if row.kind in PROPERTY_TYPES else PROPERTY_TYPES[0]
        if row.required:
            required.append(name)
    return props, required, problems


def check_header(code: str, label_zh: str, label_en: str, taken: Iterable[str]) -> dict[str, str]:
    """By field, the catalog key of what is wrong with the type's code and names."""
    problems: dict[str, str] = {}
    if not code:
        problems["code"] = "error.required"
    elif not CODE_PATTERN.fullmatch(code):
        problems["code"] = "eventtypes.error.code_format"
    elif code in set(taken):
        problems["code"] = "eventtypes.error.code_taken"
    for field, value in (("label_zh", label_zh), ("label_en", label_en)):
        if not value:
            problems[field] = "error.required"
    return problems


def _label(spec: EventTypeSpec) -> str:
    return spec.label_en if console_session.language() == "en" else spec.label_zh


def _property(spec: EventTypeSpec, name: str, kind: str) -> str:
    """商品名称（文本、必填）: a built-in type's property by its display name; a custom type's by the
    name the brand gave it (its own identifier, data). The type and "required" are words."""
    words = [tr(f"eventtypes.type.{kind}")]
    if name in spec.required:
        words.append(tr("eventtypes.required"))
    shown = tr(f"eventtypes.property.{name}") if spec.builtin and name in BUILTIN_PROPERTY_NAMES else name
    return tr("eventtypes.property", name=shown, detail=tr("merge.list_separator").join(words))


def _rows(specs: list[EventTypeSpec]) -> list[dict[str, Any]]:
    lang = console_session.language()
    # The code is the row's key only: staff know a type by its name.
    return [
        {
            "id": s.code,
            "label": _label(s),
            "kind": tr("eventtypes.builtin") if s.builtin else tr("eventtypes.custom"),
            "properties": tr("merge.list_separator").join(_property(s, n, t) for n, t in s.properties.items()) or EMPTY,
            "retention": tr("eventtypes.days", days=formatting.number(s.retention_days, lang))
            if s.retention_days
            else tr("eventtypes.forever"),
            "active": tr("eventtypes.on") if s.active else tr("eventtypes.off"),
        }
        for s in specs
    ]


class EventTypesPage:
    def __init__(self, principal: Principal, specs: list[EventTypeSpec]) -> None:
        self.viewer = principal
        self.specs = {s.code: s for s in specs}
        self.may_edit = is_allowed(principal, "events", "update")

    def build(self) -> None:
        with ui.row().classes("w-full items-center"):
            page_title(tr("eventtypes.title"))
            ui.space()
            if self.may_edit:
                ui.button(tr("eventtypes.new"), icon="add", on_click=self.new_dialog).props("unelevated no-caps").mark(
                    "new-event-type"
                )
        ui.label(tr("eventtypes.hint")).classes("text-sm text-slate-500")
        columns = [
            {"name": n, "label": tr(f"eventtypes.col.{n}"), "field": n, "align": "left"}
            for n in ("label", "kind", "properties", "retention", "active")
        ]
        table = ui.table(rows=[], columns=columns, row_key="id")
        table.props("flat dense").classes("w-full").mark("event-types-table")
        if self.may_edit:
            table.on("rowClick", lambda e: self.edit_dialog(e.args[1]["id"]))
        # Built-in types first, then custom ones, newest first is not known for built-ins: by code.
        specs = sorted(self.specs.values(), key=lambda s: (not s.builtin, s.code))

        def show_page() -> None:
            table.rows = _rows(pager.slice(specs))
            table.update()

        pager = Pager(show_page, keyset=False, marker="event-types-pager")
        pager.build()
        show_page()

    def edit_dialog(self, code: str) -> None:
        spec = self.specs[code]
        with ui.dialog() as dialog, ui.card().classes("min-w-96"):
            ui.label(_label(spec)).classes("text-lg font-medium")
            retention = ui.number(tr("eventtypes.retention_days"), value=spec.retention_days, min=1, max=3650, step=1)
            retention.props("outlined dense clearable").mark("retention-days")
            active = ui.switch(tr("eventtypes.active"), value=spec.active).mark("type-active")

            def save() -> None:
                days = int(retention.value) if retention.value not in (None, "") else None
                changes = {"retention_days": days, "active": bool(active.value)}
                result = perform(lambda s, p: event_types.update_type(s, p, code, changes), notify=False)
                if isinstance(result.error, ValidationFailed):
                    apply_field_errors({"retention_days": retention}, result.error.errors)
                    return
                if result.ok:
                    dialog.close()
                    ui.notify(tr("eventtypes.saved"), type="positive")
                    ui.navigate.reload()

            with ui.row().classes("w-full justify-end"):
                ui.button(tr("form.cancel"), on_click=dialog.close).props("flat no-caps")
                ui.button(tr("form.save"), on_click=save).props("unelevated no-caps").mark("save-event-type")
        dialog.open()

    def new_dialog(self) -> None:
        with ui.dialog() as dialog, ui.card().classes("min-w-[36rem]"):
            ui.label(tr("eventtypes.new")).classes("text-lg font-medium")
            code = ui.input(tr("eventtypes.code")).props("outlined dense").classes("w-full").mark("type-code")
            code.props["hint"] = tr("eventtypes.code_hint")
            label_zh = ui.input(tr("eventtypes.label_zh")).props("outlined dense").classes("w-full")
            label_zh.mark("type-label-zh")
            label_en = ui.input(tr("eventtypes.label_en")).props("outlined dense").classes("w-full")
            label_en.mark("type-label-en")
            editor = PropertyEditor()
            header = {"code": code, "label_zh": label_zh, "label_en": label_en}

            def create() -> None:
                for element in [*header.values(), *(r.name for r in editor.rows)]:
                    set_field_error(element, None)
                values = {field: (element.value or "").strip() for field, element in header.items()}
                problems = check_header(values["code"], values["label_zh"], values["label_en"], self.specs)
                props, required, row_problems = check_rows(editor.values())
                for field, key in problems.items():
                    set_field_error(header[field], tr(key))
                for index, key in row_problems.items():
                    set_field_error(editor.rows[index].name, tr(key))
                if problems or row_problems:
                    return
                data = {**values, "properties": props, "required": required}
                result = perform(lambda s, p: event_types.create_type(s, p, data), notify=False)
                if result.error is not None:
                    self._show_errors(result.error, header, editor)
                    return
                dialog.close()
                ui.notify(tr("eventtypes.saved"), type="positive")
                ui.navigate.reload()

            with ui.row().classes("w-full justify-end"):
                ui.button(tr("form.cancel"), on_click=dialog.close).props("flat no-caps")
                ui.button(tr("form.save"), on_click=create).props("unelevated no-caps").mark("create-event-type")
        dialog.open()

    @staticmethod
    def _show_errors(error: DomainError, header: dict[str, ui.input], editor: PropertyEditor) -> None:
        """The service's refusal (a code taken meanwhile, a rule the form does not know) next to
        the input it concerns, else as a notification."""
        errors = list(getattr(error, "errors", []))
        if not errors:
            notify_error(error)
            return
        by_name = {(r.name.value or "").strip(): r.name for r in editor.rows}
        rest: list[FieldError] = []
        for item in errors:
            name = item.field.removeprefix("properties.")
            if item.field.startswith("properties.") and name in by_name:
                set_field_error(by_name[name], field_message(item.field, item.code, item.message))
            else:
                rest.append(item)
        for text in apply_field_errors(dict(header), rest):
            ui.notify(text, type="negative")


class PropertyEditor:
    """The properties of a new type, one row each: name, type, required; rows added and removed."""

    def __init__(self) -> None:
        self.rows: list[_PropertyInputs] = []
        self.added = 0  # numbers each row's markers (property-name-0, ...), never reused
        ui.label(tr("eventtypes.properties")).classes("text-sm font-medium pt-2")
        ui.label(tr("eventtypes.properties_hint")).classes("text-xs text-slate-500")
        self.empty = ui.label(tr("eventtypes.no_properties")).classes("text-sm text-slate-500")
        self.empty.mark("no-properties")
        self.box = ui.column().classes("w-full gap-2").mark("property-rows")
        ui.button(tr("eventtypes.add_property"), icon="add", on_click=self.add).props("flat dense no-caps").mark(
            "add-property"
        )

    def add(self) -> None:
        kinds = {kind: tr(f"eventtypes.type.{kind}") for kind in PROPERTY_TYPES}
        n = self.added
        self.added += 1
        with self.box, ui.row().classes("w-full items-start no-wrap gap-2").mark(f"property-row-{n}") as line:
            name = ui.input(tr("eventtypes.property_name")).props("outlined dense").classes("grow")
            name.mark("property-name", f"property-name-{n}")
            kind = ui.select(kinds, value=PROPERTY_TYPES[0], label=tr("eventtypes.property_type"))
            kind.props("outlined dense").classes("w-40").mark("property-type", f"property-type-{n}")
            required = ui.checkbox(tr("eventtypes.property_required"))
            required.mark("property-required", f"property-required-{n}")
            inputs = _PropertyInputs(line, name, kind, required)
            remove = ui.button(icon="delete", on_click=lambda: self.remove(inputs)).props("flat round dense")
            remove.mark("remove-property", f"remove-property-{n}")
            with remove:
                ui.tooltip(tr("eventtypes.remove_property"))
        self.rows.append(inputs)
        self.empty.set_visibility(False)

    def remove(self, inputs: _PropertyInputs) -> None:
        self.rows.remove(inputs)
        self.box.remove(inputs.line)
        self.empty.set_visibility(not self.rows)

    def values(self) -> list[PropertyRow]:
        return [PropertyRow(r.name.value or "", str(r.kind.value or ""), bool(r.required.value)) for r in self.rows]


@dataclass(frozen=True)
class _PropertyInputs:
    line: ui.row
    name: ui.input
    kind: ui.select
    required: ui.checkbox


def event_types_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/quality"):
        result = perform(event_types.list_types, principal=principal, write=False)
        if result.value is None:
            notice(tr("error.permission_denied"))
            return None
        EventTypesPage(principal, result.value).build()
    return None
