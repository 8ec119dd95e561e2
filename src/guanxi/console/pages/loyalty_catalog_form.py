"""A form built from field specs, for the reward and coupon template dialogs: inputs per field,
fields that belong to one kind shown only for it, text turned into the values the input models
take, and errors placed by field name.

A new record sends every filled field (empty ones fall back to the model's defaults); an edit sends
only the fields whose text changed, an emptied optional field as null.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui

from guanxi.config import get_settings
from guanxi.console.actions import field_message
from guanxi.console.pages.loyalty_prize_rows import PrizeRows
from guanxi.console.session import tr
from guanxi.console.widgets import apply_field_errors, local_time, set_field_error
from guanxi.kit.errors import FieldError

Widget = ui.input | ui.select | ui.checkbox | ui.textarea | PrizeRows


@dataclass(frozen=True)
class Spec:
    name: str
    widget: str = "text"  # text | textarea | bool | select | datetime | list | json | tier | tiers | int
    kinds: tuple[str, ...] | None = None  # shown only for these kinds; None: for every kind
    # A parameter of the chosen trigger, kept in `trigger_params` (shown only for these triggers).
    triggers: tuple[str, ...] | None = None
    options: tuple[str, ...] = ()  # select values, labelled by the catalog group `option_group`
    option_group: str = ""
    create_only: bool = False  # fixed once created (code, kind)
    wide: bool = False
    # Never null (a name in another language): an emptied input sends "" rather than clearing.
    blank: bool = False
    # Words in one given language whatever the page's (the brand's names): marked `verbatim`.
    verbatim: bool = False


def as_text(spec: Spec, value: Any) -> Any:
    """A stored value as its input shows it."""
    if spec.widget == "bool":
        return bool(value)
    if spec.widget in ("tiers", "prizes"):
        return list(value or [])
    if value is None:
        return None if spec.widget in ("select", "tier") else ""
    if spec.widget == "datetime":
        return local_time(value) if isinstance(value, datetime) else str(value)
    if spec.widget == "list":
        return ", ".join(str(v) for v in value)
    if spec.widget == "json":
        return json.dumps(value, ensure_ascii=False) if value else ""
    return str(value)


def parse(spec: Spec, raw: Any) -> Any:
    """Input text to the model's value; ValueError carries the message for the field."""
    if spec.widget == "bool":
        return bool(raw)
    if spec.widget in ("tiers", "prizes"):
        return list(raw or []) or None
    text = raw.strip() if isinstance(raw, str) else raw
    if text in (None, ""):
        return [] if spec.widget == "list" else ("" if spec.blank else None)
    if spec.widget == "int":
        try:
            return int(str(text))
        except ValueError:
            raise ValueError(tr("error.pydantic.int_parsing")) from None
    if spec.widget == "datetime":
        try:
            value = datetime.fromisoformat(str(text))
        except ValueError:
            raise ValueError(tr("loyalty.catalog.datetime_format")) from None
        return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(get_settings().timezone))
    if spec.widget == "list":
        parts = str(text).replace("，", ",").replace("\n", ",").split(",")
        return [p.strip() for p in parts if p.strip()]
    if spec.widget == "json":
        try:
            return json.loads(str(text))
        except ValueError as exc:
            raise ValueError(tr("loyalty.rules.bad_json", error=str(exc))) from None
    return text


class SpecForm:
    def __init__(
        self,
        specs: tuple[Spec, ...],
        *,
        editable: bool,
        tiers: dict[str, str] | None = None,
        templates: dict[str, str] | None = None,
    ) -> None:
        self.specs = specs
        self.editable = editable
        self.tiers = dict(tiers or {})  # tier code -> the name to show, for tier fields
        self.templates = dict(templates or {})  # coupon template id -> name, for coupon prizes
        self.fields: dict[str, Widget] = {}
        self.boxes: dict[str, ui.element] = {}
        self.initial: dict[str, Any] = {}
        self.creating = True

    def build(self, marker: str) -> None:
        with ui.element("div").classes("grid grid-cols-1 md:grid-cols-2 gap-x-4 gap-y-2 w-full"):
            for spec in self.specs:
                with ui.element("div").classes("md:col-span-2" if spec.wide else "") as box:
                    element = self._input(spec)
                    element.mark(f"{marker}-{spec.name}", *(("verbatim",) if spec.verbatim else ()))
                    self.fields[spec.name] = element
                self.boxes[spec.name] = box
        self.banner = ui.column().classes("w-full gap-1").mark(f"{marker}-errors")

    def _input(self, spec: Spec) -> Widget:
        label = tr(f"loyalty.catalog.field.{spec.name}")
        element: Widget
        if spec.widget == "bool":
            element = ui.checkbox(label)
        elif spec.widget == "select":
            choices = {v: tr(f"{spec.option_group}.{v}") for v in spec.options}
            changes = spec.name in ("kind", "trigger")
            element = ui.select(choices, label=label, on_change=self._kind_changed if changes else None)
            element.props("outlined dense options-dense").classes("w-full")
        elif spec.widget == "prizes":
            return PrizeRows(label, self.templates)
        elif spec.widget in ("tier", "tiers"):
            element = ui.select(self.tiers, label=label, multiple=spec.widget == "tiers", clearable=True)
            element.props("outlined dense options-dense" + (" use-chips" if spec.widget == "tiers" else ""))
            element.classes("w-full")
        elif spec.widget in ("textarea", "json"):
            element = ui.textarea(label).props("outlined dense autogrow").classes("w-full")
            if spec.widget == "json":
                element.classes("font-mono")
        else:
            element = ui.input(label).props("outlined dense").classes("w-full")
        hint = tr(f"loyalty.catalog.hint.{spec.name}")
        if hint != f"loyalty.catalog.hint.{spec.name}" and not isinstance(element, ui.checkbox):
            element.props["hint"] = hint
        return element

    def load(self, values: dict[str, Any] | None, *, defaults: dict[str, Any]) -> None:
        """Fill the form: a record's values to edit, or the defaults of a new one."""
        self.creating = values is None
        source = defaults if values is None else values
        params = source.get("trigger_params") or {}
        self.initial = {
            spec.name: as_text(spec, params.get(spec.name) if spec.triggers else source.get(spec.name))
            for spec in self.specs
        }
        for spec in self.specs:
            element = self.fields[spec.name]
            element.value = self.initial[spec.name]
            enabled = self.editable and not (spec.create_only and not self.creating)
            element.set_enabled(enabled)
        self.clear()
        self._kind_changed()

    @property
    def kind(self) -> str | None:
        field = self.fields.get("kind")
        return str(field.value) if field is not None and field.value else None

    def _applies(self, spec: Spec) -> bool:
        if spec.triggers is not None:
            trigger = self.fields.get("trigger")
            return trigger is not None and trigger.value in spec.triggers
        return spec.kinds is None or self.kind in spec.kinds

    def _kind_changed(self) -> None:
        for spec in self.specs:
            self.boxes[spec.name].set_visibility(self._applies(spec))

    def clear(self) -> None:
        for element in self.fields.values():
            if element.props.get("error"):
                set_field_error(element, None)
        self.banner.clear()

    def payload(self) -> tuple[dict[str, Any], list[FieldError]]:
        """What to send: every filled field of a new record, or the changed fields of an edit."""
        out: dict[str, Any] = {}
        errors: list[FieldError] = []
        params: dict[str, Any] = {}
        params_changed = any(
            self.fields[spec.name].value != self.initial.get(spec.name)
            for spec in self.specs
            if spec.triggers is not None or spec.name == "trigger"
        )
        for spec in self.specs:
            if not self._applies(spec):
                continue
            raw = self.fields[spec.name].value
            if spec.triggers is not None:
                try:
                    value = parse(spec, raw)
                except ValueError as exc:
                    errors.append(FieldError(spec.name, str(exc), "format"))
                    continue
                if value is not None:
                    params[spec.name] = value
                continue
            if not self.creating and (spec.create_only or raw == self.initial.get(spec.name)):
                continue
            try:
                value = parse(spec, raw)
            except ValueError as exc:
                errors.append(FieldError(spec.name, str(exc), "format"))
                continue
            if self.creating and value in (None, []):
                continue
            out[spec.name] = value
        has_params = any(spec.triggers is not None for spec in self.specs)
        if has_params and (self.creating or params_changed):
            out["trigger_params"] = params
        return out, errors

    def show(self, errors: list[FieldError]) -> None:
        placed = []
        for error in errors:
            # prizes[1].weight and trigger_params.to_tier belong to the prizes / trigger_params input
            head = re.split(r"[.\[]", error.field, maxsplit=1)[0]
            rest = error.field[len(head) :].lstrip(".")
            if head == "trigger_params" and rest in self.fields:  # a trigger parameter has its own field
                head, rest = rest, ""
            if error.key and not rest and head in self.fields:  # a message of its own, with its figures
                text = field_message(head, error.code, error.message, error.params, key=error.key)
                set_field_error(self.fields[head], text)
                continue
            placed.append(FieldError(head, f"{rest}: {error.message}" if rest else error.message, error.code))
        unplaced = apply_field_errors(dict(self.fields), placed)
        with self.banner:
            for text in unplaced:
                ui.label(text).classes("text-sm text-red-800")
