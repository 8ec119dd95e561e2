"""Small building blocks shared by the console pages: formatting, labels, field errors, cards."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from nicegui import ui
from nicegui.events import ValueChangeEventArguments
from pydantic import ValidationError

from guanxi.console.actions import field_label, field_message
from guanxi.console.session import language, tr
from guanxi.customers import place_names
from guanxi.kit import formatting, i18n
from guanxi.kit.errors import FieldError

EMPTY = "—"
BRAND = "guanxi"  # the product's name in browser tabs, in every language


def local_time(value: datetime | None) -> str:
    """A stored UTC time in the configured zone (Asia/Shanghai by default), as the session's
    language writes it: 2026年3月4日 13:05 / Mar 4, 2026, 13:05."""
    return formatting.moment(value, language())


def place(name: str | None) -> str:
    """A province, city or district in the session's language (its English name on English pages)."""
    return show(place_names.label(name, language()))


def show(value: object) -> str:
    """Any value for display: dates and figures as the session's language writes them."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, datetime):
        return formatting.moment(value, language())
    if isinstance(value, date):
        return formatting.day(value, language())
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return formatting.number(value, language())
    return str(value)


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == len("2026-03-04")


def date_input(
    label: str,
    *,
    value: str | None = None,
    on_change: Callable[[ValueChangeEventArguments], Any] | None = None,
) -> ui.date_input:
    """A date typed as YYYY-MM-DD or picked from a calendar in the session's language (the
    browser's own date input would show mm/dd/yyyy to an English-locale browser). `on_change`
    hears only whole dates and the emptied field, never a half-typed one."""

    def changed(event: ValueChangeEventArguments) -> None:
        if on_change is not None and (not event.value or _is_day(str(event.value))):
            on_change(event)

    element = ui.date_input(label, value=value or "", on_change=changed)
    element.props(f'mask="####-##-##" placeholder="{tr("form.date_placeholder")}" stack-label')
    element.picker.props("today-btn")
    return element


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
    """The page's heading, also the browser tab's title ("客户 · guanxi")."""
    ui.page_title(f"{text} · {BRAND}")
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
        text = i18n.pydantic_message(kind, str(item.get("msg", "")), language(), item.get("ctx"))
        errors.append(FieldError(str(loc[0]), text, "input"))
    return errors


def blank_to_none(values: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str):
            value = value.strip() or None
        cleaned[key] = value
    return cleaned
