"""Small building blocks shared by the console pages: formatting, labels, field errors, cards."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui
from pydantic import ValidationError

from guanxi.config import get_settings
from guanxi.console.actions import field_label, field_message
from guanxi.console.session import tr
from guanxi.kit import clock
from guanxi.kit.errors import FieldError

EMPTY = "—"


@lru_cache(maxsize=4)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(value: datetime | None) -> str:
    """A stored UTC time shown in the configured zone (Asia/Shanghai by default)."""
    if value is None:
        return EMPTY
    return clock.as_utc(value).astimezone(_zone(get_settings().timezone)).strftime("%Y-%m-%d %H:%M")


def show(value: object) -> str:
    if value is None or value == "":
        return EMPTY
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def choice(group: str, value: str | None) -> str:
    """The translated label of an enum value, e.g. choice("gender", "male") -> 男."""
    if not value:
        return EMPTY
    key = f"{group}.{value}"
    text = tr(key)
    return value if text == key else text


def options(group: str, values: Iterable[str]) -> dict[str, str]:
    return {value: choice(group, value) for value in values}


def page_title(text: str) -> None:
    ui.page_title(f"{text} · guanxi")
    ui.label(text).classes("text-2xl font-medium")


def notice(text: str, *, kind: str = "warning") -> ui.label:
    colors = {"warning": "text-amber-800 bg-amber-50", "error": "text-red-800 bg-red-50"}
    return ui.label(text).classes(f"w-full rounded px-4 py-3 {colors.get(kind, colors['warning'])}").mark("notice")


@contextmanager
def card(title: str, *, marker: str | None = None) -> Iterator[ui.card]:
    with ui.card().classes("w-full") as box:
        if marker:
            box.mark(marker)
        ui.label(title).classes("text-base font-medium text-slate-700")
        yield box


def facts(rows: Iterable[tuple[str, str]]) -> None:
    """A two-column list of label / value pairs."""
    with ui.grid(columns="max-content 1fr").classes("gap-x-6 gap-y-1 text-sm"):
        for label, value in rows:
            ui.label(label).classes("text-slate-500")
            ui.label(value)


def set_field_error(element: ui.element, message: str | None) -> None:
    """Show (or clear) a message under an input or select."""
    element.props["error"] = message is not None
    element.props["error-message"] = message
    element.update()


def apply_field_errors(fields: dict[str, ui.element], errors: Iterable[FieldError]) -> list[str]:
    """Put each error next to its input; return the texts that belong to no input on the form."""
    unplaced: list[str] = []
    for error in errors:
        name = error.field.split(".")[0]
        text = field_message(name, error.code, error.message)
        element = fields.get(name)
        if element is None:
            unplaced.append(f"{field_label(name)}: {text}")
        else:
            set_field_error(element, text)
    return unplaced


def pydantic_field_errors(exc: ValidationError) -> list[FieldError]:
    """Input-model validation errors as field errors named like the schema fields, already in the
    session's language (the catalog has the common kinds; otherwise Pydantic's own sentence)."""
    errors: list[FieldError] = []
    for item in exc.errors():
        loc = item.get("loc") or ("form",)
        kind = item.get("type", "")
        if item.get("input") is None and kind in ("string_type", "date_type", "missing"):
            kind = "missing"  # an empty required field
        key = f"error.pydantic.{kind}"
        text = tr(key, **(item.get("ctx") or {}))
        errors.append(FieldError(str(loc[0]), str(item.get("msg", "")) if text == key else text, "input"))
    return errors


def blank_to_none(values: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str):
            value = value.strip() or None
        cleaned[key] = value
    return cleaned
