"""An earning rule's parameters as labelled fields, per rule kind, and the same parameters said in
one readable line for the rules table.

The form starts from the stored definition and writes back only the fields it shows, so a rule
saved without a change keeps exactly the parameters it had (`loyalty.program.settings.put_rule`
normalizes what it stores). Figures are typed as text and handed over as text: a decimal such as
0.1 reaches the rule model as written, never through a float.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.dates import get_day_names
from nicegui import ui

from guanxi.console.actions import field_message
from guanxi.console.session import language, tr
from guanxi.console.widgets import EMPTY, choice, date_input, set_field_error
from guanxi.kit import formatting
from guanxi.kit.errors import FieldError

# Fields every rule has, then the fields of each kind (in the order the form shows them).
COMMON = ("code", "name", "name_en", "priority", "active", "stop_further")
LIMITS = ("valid_from", "valid_to", "channels", "stores", "daily_cap", "campaign_cap")
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "base_rate": ("points", "per_amount", "rounding", "currency"),
    "minimum_order": ("min_amount", "currency"),
    "exclusion": ("categories", "skus"),
    "tier_multiplier": (),
    "category_multiplier": ("multiplier", "categories", "skus"),
    "campaign_multiplier": ("multiplier", "weekdays", "dates", "holidays", "start_time", "end_time"),
    "birthday_bonus": ("multiplier", "bonus_points", "bonus_once"),
    "action_bonus": ("action", "points", "streak_bonuses"),
    "daily_cap": ("max_points",),
}
ROUNDINGS = ("floor", "half_up", "ceil")
CHANNELS = ("store", "web", "mini_program", "app")
ACTIONS = ("checkin", "review", "share", "profile_completion", "referral")
_INTS = frozenset({"priority", "bonus_points", "max_points", "daily_cap", "campaign_cap"})
_DECIMALS = frozenset({"per_amount", "min_amount", "multiplier"})
_BOOLS = frozenset({"active", "stop_further", "holidays", "bonus_once"})
_LISTS = frozenset({"categories", "skus", "stores", "dates"})
_MONEY = frozenset({"per_amount", "min_amount"})
_SPLIT = re.compile(r"[,，、\s]+")


def field_type(kind: str, name: str) -> str:
    if name == "points":
        return "decimal" if kind == "base_rate" else "int"
    for group, members in (("int", _INTS), ("decimal", _DECIMALS), ("bool", _BOOLS), ("list", _LISTS)):
        if name in members:
            return group
    return {
        "channels": "channels",
        "weekdays": "weekdays",
        "start_time": "time",
        "end_time": "time",
        "valid_from": "date",
        "valid_to": "date",
        "rounding": "rounding",
        "action": "action",
        "streak_bonuses": "streaks",
    }.get(name, "text")


def field_label(kind: str, name: str) -> str:
    if name == "points":
        return tr("loyalty.rule_field.rate_points" if kind == "base_rate" else "loyalty.rule_field.action_points")
    return tr(f"loyalty.rule_field.{name}")


def weekday_names() -> dict[int, str]:
    names = get_day_names("wide", locale=formatting.locale_of(language()))
    return {day: str(names[day - 1]) for day in range(1, 8)}


def _figure(value: Any) -> str:
    try:
        return formatting.number(Decimal(str(value)), language())
    except (InvalidOperation, ValueError):
        return str(value)


def show_value(kind: str, name: str, value: Any, currency: str) -> str:
    """One parameter as staff read it: ¥1.00, 向下取整, 星期五, 7 天 +20 ..."""
    lang = language()
    shape = field_type(kind, name)
    if name in _MONEY:
        try:
            return formatting.money(Decimal(str(value)), currency, lang)
        except (InvalidOperation, ValueError):
            return str(value)
    if shape == "bool":
        return tr("common.yes") if value else tr("common.no")
    if shape in ("int", "decimal"):
        return ("×" if name == "multiplier" else "") + _figure(value)
    if shape == "rounding":
        return choice("loyalty.rounding", str(value))
    if shape == "action":
        return choice("loyalty.reason", str(value))
    if shape == "weekdays":
        days = weekday_names()
        return tr("loyalty.award.list_separator").join(days.get(int(d), str(d)) for d in value)
    if shape == "channels":
        return tr("loyalty.award.list_separator").join(choice("loyalty.channel", str(c)) for c in value)
    if shape == "streaks":
        return tr("loyalty.award.list_separator").join(
            tr("loyalty.rule_field.streak_item", days=_figure(days), points=_figure(points))
            for days, points in sorted(value.items(), key=lambda item: int(item[0]))
        )
    if shape == "time":
        return str(value)[:5]
    if shape == "date":
        from datetime import date

        try:
            return formatting.day(date.fromisoformat(str(value)), lang)
        except ValueError:
            return str(value)
    if isinstance(value, list):
        return tr("loyalty.award.list_separator").join(map(str, value))
    return str(value)


def summary(definition: dict[str, Any], currency: str = "CNY") -> str:
    """The kind's parameters and any limits, labelled, in one line: 积分数 1 · 每消费金额 ¥1.00 · …"""
    kind = str(definition.get("kind", ""))
    parts = []
    for name in (*KIND_FIELDS.get(kind, ()), *LIMITS):
        value = definition.get(name)
        if value in (None, [], {}, False, ""):
            continue
        if name == "currency" and value == currency:
            continue
        if name == "bonus_once" and not definition.get("bonus_points"):
            continue
        shown_in = str(definition.get("currency") or currency)
        parts.append(f"{field_label(kind, name)} {show_value(kind, name, value, shown_in)}")
    return " · ".join(parts) or EMPTY


class StreakRows:
    """Check-in streak bonuses as rows of (days in a row, extra points)."""

    def __init__(self, label: str, value: dict[str, Any], on_change: Callable[[], None]) -> None:
        self.on_change = on_change
        self.rows: list[tuple[ui.number, ui.number, ui.row]] = []
        with ui.column().classes("w-full gap-1") as self.box:
            ui.label(label).classes("text-sm text-slate-600")
            self.list = ui.column().classes("w-full gap-1")
            ui.button(tr("loyalty.rule_field.add_streak"), icon="add", on_click=lambda: self.add(None, None)).props(
                "flat dense no-caps"
            ).mark("rule-streak-add")
        for days, points in sorted(value.items(), key=lambda item: int(item[0])):
            self.add(int(days), int(points))

    def add(self, days: int | None, points: int | None) -> None:
        index = len(self.rows)
        with self.list, ui.row().classes("w-full items-center gap-2") as row:
            day_field = ui.number(tr("loyalty.rule_field.streak_days"), value=days, precision=0, format="%d")
            day_field.props("outlined dense").classes("w-36").mark(f"rule-streak-{index}-days")
            point_field = ui.number(tr("loyalty.rule_field.streak_points"), value=points, precision=0, format="%d")
            point_field.props("outlined dense").classes("w-36").mark(f"rule-streak-{index}-points")
            ui.button(icon="close", on_click=lambda: self.remove(row)).props("flat dense round size=sm")
        day_field.on_value_change(self.on_change)
        point_field.on_value_change(self.on_change)
        self.rows.append((day_field, point_field, row))
        self.on_change()

    def remove(self, row: ui.row) -> None:
        self.rows = [r for r in self.rows if r[2] is not row]
        self.list.remove(row)
        self.on_change()

    @property
    def value(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for days, points, _ in self.rows:
            if days.value is None and points.value is None:
                continue
            found[str(_whole(days.value))] = _whole(points.value)
        return found


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class RuleForm:
    """The labelled fields of one rule kind, filled from a definition, read back into one."""

    def __init__(self, kind: str, definition: dict[str, Any], on_change: Callable[[], None], *, editing: bool) -> None:
        self.kind = kind
        self.original = dict(definition)
        self.on_change = on_change
        self.fields: dict[str, Any] = {}
        with ui.element("div").classes("grid w-full grid-cols-1 gap-2 sm:grid-cols-2").mark("rule-form"):
            for name in (*COMMON, *KIND_FIELDS.get(kind, ())):
                self.fields[name] = self._field(name, definition.get(name))
        limits = ui.expansion(tr("loyalty.rule_field.limits"), icon="tune").classes("w-full").mark("rule-limits")
        with limits, ui.element("div").classes("grid w-full grid-cols-1 gap-2 sm:grid-cols-2"):
            for name in LIMITS:
                self.fields[name] = self._field(name, definition.get(name))
        if editing:
            self.fields["code"].disable()  # the code names the rule; a new code is a new rule

    def _field(self, name: str, value: Any) -> Any:
        label = field_label(self.kind, name)
        shape = field_type(self.kind, name)
        element: Any
        if shape == "bool":
            element = ui.switch(label, value=bool(value))
        elif shape == "int":
            element = ui.number(label, value=value, precision=0, format="%d")
        elif shape == "rounding":
            element = ui.select({r: choice("loyalty.rounding", r) for r in ROUNDINGS}, value=value, label=label)
        elif shape == "action":
            known = dict.fromkeys((*ACTIONS, *([value] if value else [])))
            element = ui.select({a: choice("loyalty.reason", a) for a in known}, value=value, label=label)
            element.props("new-value-mode=add-unique use-input")
        elif shape == "weekdays":
            element = ui.select(weekday_names(), value=list(value or []), label=label, multiple=True)
            element.props("use-chips")
        elif shape == "channels":
            known = dict.fromkeys((*CHANNELS, *(value or [])))
            element = ui.select(
                {c: choice("loyalty.channel", c) for c in known}, value=list(value or []), label=label, multiple=True
            )
            element.props("use-chips")
        elif shape == "streaks":
            return StreakRows(label, dict(value or {}), self.on_change)
        elif shape == "date":
            element = date_input(label, value=_text(value))
        elif shape == "time":
            element = ui.input(label, value=_text(value)[:5], placeholder="09:00").props("mask='##:##'")
        elif shape == "list":
            element = ui.input(label, value=", ".join(map(str, value or [])))
            element.props(f"hint='{tr('loyalty.rule_field.list_help')}'")
        else:
            element = ui.input(label, value=_text(value))
        if shape not in ("bool",):
            element.props("outlined dense")
        if hasattr(element, "without_auto_validation"):
            element.without_auto_validation()  # the rule check places the errors, on every change
        element.classes("w-full").mark(f"rule-{name}")
        element.on_value_change(lambda _: self.on_change())
        return element

    def definition(self) -> dict[str, Any]:
        """The stored definition with the form's fields written over it."""
        found = dict(self.original) | {"kind": self.kind}
        for name, element in self.fields.items():
            value = self._read(name, element)
            if value is None:
                found.pop(name, None)
            else:
                found[name] = value
        return found

    def _read(self, name: str, element: Any) -> Any:
        shape = field_type(self.kind, name)
        raw = element.value
        if shape == "bool":
            return bool(raw)
        if shape == "int":
            return None if raw is None else _whole(raw)
        if shape in ("weekdays", "channels"):
            return list(raw or []) or ([] if shape == "weekdays" else None)
        if shape == "streaks":
            return raw or {}
        if shape == "list":
            items = [part for part in _SPLIT.split(str(raw or "")) if part]
            return items if items or name != "stores" else None
        text = str(raw or "").strip()
        return text or None

    def show_errors(self, errors: list[FieldError]) -> list[FieldError]:
        """Put each error under its field; answer those that belong to none."""
        for element in self.fields.values():
            if not isinstance(element, (StreakRows, ui.switch)):
                set_field_error(element, None)
        rest = []
        for error in errors:
            name = error.field.removeprefix("definition").removeprefix(".").split(".")[0].split("[")[0]
            element = self.fields.get(name)
            if element is None or isinstance(element, (StreakRows, ui.switch)):
                rest.append(error)
            else:
                set_field_error(element, say(error))
        return rest


def say(error: FieldError) -> str:
    """A rule problem in the session's language (pydantic's kinds of error are in the catalogs)."""
    return field_message(error.field, error.code, error.message, error.params, key=error.key)
