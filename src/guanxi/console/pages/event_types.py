"""Event types: the registered schemas, retention per type, switching a type off, custom types.

Writes go through `customers.event_types`, so the API's validation, permissions and audit apply.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console import session as console_session
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.paging import Pager
from guanxi.console.session import guard, tr
from guanxi.console.widgets import EMPTY, apply_field_errors, notice, page_title
from guanxi.customers import event_types
from guanxi.customers.event_schema import PROPERTY_TYPES, EventTypeSpec
from guanxi.kit import formatting
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.principal import Principal


def parse_properties(text: str) -> tuple[dict[str, str], list[str], list[FieldError]]:
    """'sku:string*' lines (or comma-separated) -> properties, required names, problems."""
    props: dict[str, str] = {}
    required: list[str] = []
    problems: list[FieldError] = []
    for raw in text.replace(",", "\n").splitlines():
        item = raw.strip()
        if not item:
            continue
        name, sep, kind = item.partition(":")
        kind = kind.strip()
        must = kind.endswith("*")
        kind = kind.rstrip("*").strip()
        if not sep or kind not in PROPERTY_TYPES:
            problems.append(
                FieldError("properties", f"{item}: write name:type, type one of {', '.join(PROPERTY_TYPES)}", "format")
            )
            continue
        props[name.strip()] = kind
        if must:
            required.append(name.strip())
    return props, required, problems


def _label(spec: EventTypeSpec) -> str:
    return spec.label_en if console_session.language() == "en" else spec.label_zh


def _property(spec: EventTypeSpec, name: str, kind: str) -> str:
    """sku（文本，必填）: the property's name is data; its type and whether it is required are words."""
    words = [tr(f"eventtypes.type.{kind}")]
    if name in spec.required:
        words.append(tr("eventtypes.required"))
    return tr("eventtypes.property", name=name, detail=tr("merge.list_separator").join(words))


def _rows(specs: list[EventTypeSpec]) -> list[dict[str, Any]]:
    lang = console_session.language()
    return [
        {
            "code": s.code,
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
            for n in ("label", "code", "kind", "properties", "retention", "active")
        ]
        table = ui.table(rows=[], columns=columns, row_key="code")
        table.props("flat dense").classes("w-full").mark("event-types-table")
        if self.may_edit:
            table.on("rowClick", lambda e: self.edit_dialog(e.args[1]["code"]))
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
            ui.label(f"{code} · {_label(spec)}").classes("text-lg font-medium")
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
        with ui.dialog() as dialog, ui.card().classes("min-w-[28rem]"):
            ui.label(tr("eventtypes.new")).classes("text-lg font-medium")
            code = ui.input(tr("eventtypes.code")).props("outlined dense").mark("type-code")
            label_zh = ui.input(tr("eventtypes.label_zh")).props("outlined dense").mark("type-label-zh")
            label_en = ui.input(tr("eventtypes.label_en")).props("outlined dense").mark("type-label-en")
            props = ui.textarea(tr("eventtypes.properties"), placeholder="room:string*\nseconds:integer")
            props.props("outlined dense").mark("type-properties")

            def create() -> None:
                parsed, required, problems = parse_properties(props.value or "")
                fields: dict[str, ui.element] = {
                    "code": code,
                    "label_zh": label_zh,
                    "label_en": label_en,
                    "properties": props,
                }
                if problems:
                    apply_field_errors(fields, problems)
                    return
                data = {
                    "code": (code.value or "").strip(),
                    "label_zh": (label_zh.value or "").strip() or (code.value or ""),
                    "label_en": (label_en.value or "").strip() or (code.value or ""),
                    "properties": parsed,
                    "required": required,
                }
                result = perform(lambda s, p: event_types.create_type(s, p, data), notify=False)
                if result.error is not None:
                    unplaced = apply_field_errors(fields, getattr(result.error, "errors", []))
                    for text in unplaced or ([] if getattr(result.error, "errors", []) else [str(result.error)]):
                        ui.notify(text, type="negative")
                    return
                dialog.close()
                ui.notify(tr("eventtypes.saved"), type="positive")
                ui.navigate.reload()

            with ui.row().classes("w-full justify-end"):
                ui.button(tr("form.cancel"), on_click=dialog.close).props("flat no-caps")
                ui.button(tr("form.save"), on_click=create).props("unelevated no-caps").mark("create-event-type")
        dialog.open()


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
