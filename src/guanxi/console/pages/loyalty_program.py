"""The loyalty program page: settings, the tier ladder and the earning rules (loyalty_rules).

Roles that may only read see the same forms disabled and no save buttons; every save goes through
`loyalty.program.settings`, which checks the permission again, validates the whole change before writing
and names the field of every problem, shown next to that field here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.dates import get_timezone_location
from babel.numbers import get_currency_name
from nicegui import ui
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.pages.loyalty_common import field_errors, loyalty_frame, show_failure, unavailable_text
from guanxi.console.pages.loyalty_rules import RulesEditor
from guanxi.console.pages.loyalty_tiers import TierEditor
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import apply_field_errors, card, choice, notice, page_title, set_field_error
from guanxi.kit import formatting
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.settings import ProgramOut, ProgramSettingsIn

PATH = "/loyalty/program"
CHOICES: dict[str, tuple[str, ...]] = {
    "expiry_mode": ("rolling_months", "end_of_period", "never"),
    "expiry_period": ("month", "quarter", "year"),
    "refund_policy": ("allow_negative", "claw_back", "reduce_refund"),
    "tier_basis": ("growth_value", "qualifying_spend"),
    "review_mode": ("annual", "anniversary", "fixed_date"),
    "review_drop": ("to_qualified", "one_level"),
}
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("basics", ("name", "point_value", "adjust_approval_threshold")),
    ("expiry", ("expiry_mode", "expiry_months", "expiry_period", "pending_days", "reminder_days", "refund_policy")),
    (
        "tiers",
        (
            "tier_basis",
            "tier_window_months",
            "growth_per_amount",
            "review_mode",
            "review_month",
            "review_day",
            "review_grace_days",
            "review_drop",
            "growth_weights",
        ),
    ),
    (
        "referral",
        ("referral_referrer_points", "referral_referee_points", "referral_min_amount", "referral_core_multiplier"),
    ),
)
# The expiry policy names its own fields; on this form they are the program's.
# Interactions that earn growth value, shown whatever the stored weights (a brand may add others).
INTERACTIONS = ("checkin", "review", "share", "profile_completion", "referral")


def shown(name: str, value: Any) -> str:
    """A stored setting as the form shows it."""
    if value is None:
        return ""
    if name == "reminder_days":
        return ", ".join(str(v) for v in value)
    if name == "growth_weights":
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(getattr(value, "value", value))


def parsed(name: str, text: str) -> Any:
    """Form text to the value the settings model takes; ValueError names what is wrong."""
    text = text.strip()
    if name == "reminder_days":
        parts = [p for p in text.replace("，", ",").replace(" ", ",").split(",") if p]
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise ValueError(tr("loyalty.program.days_list")) from None
    if name == "growth_weights":
        weights: dict[str, int] = {}
        for part in (p.strip() for p in text.replace("，", ",").split(",")):
            if not part:
                continue
            key, sep, value = part.partition("=")
            try:
                if not sep or not key.strip():
                    raise ValueError
                weights[key.strip()] = int(value)
            except ValueError:
                raise ValueError(tr("loyalty.program.weights_format")) from None
        return weights
    return text


class SettingsForm:
    def __init__(self, principal: Principal, program: ProgramOut) -> None:
        self.editable = is_allowed(principal, "programs", "update")
        self.initial = {name: shown(name, value) for name, value in program.settings.items()}
        self.fields: dict[str, ui.element] = {}
        self.weights: dict[str, ui.number] = {}

    def _weights(self) -> None:
        """Growth value per interaction: one labelled number per interaction (display names, not codes)."""
        stored = parsed("growth_weights", self.initial.get("growth_weights", ""))
        with ui.column().classes("w-full gap-1 md:col-span-3").mark("setting-growth_weights"):
            ui.label(tr("loyalty.setting.growth_weights")).classes("text-sm text-slate-600")
            with ui.element("div").classes("grid grid-cols-2 md:grid-cols-5 gap-2 w-full"):
                for action in dict.fromkeys((*INTERACTIONS, *stored)):
                    element = ui.number(
                        choice("loyalty.reason", action), value=stored.get(action), min=0, precision=0, format="%d"
                    )
                    element.props("outlined dense").classes("w-full").mark(f"setting-growth_weights-{action}")
                    if not self.editable:
                        element.disable()
                    self.weights[action] = element

    def weights_text(self) -> str:
        """The interactions' numbers in the form `shown` gives the stored weights (0 or empty: none)."""
        values = {a: int(e.value) for a, e in self.weights.items() if e.value not in (None, "") and e.value > 0}
        return shown("growth_weights", values)

    def _field(self, name: str) -> None:
        if name == "growth_weights":
            self._weights()
            return
        label = tr(f"loyalty.setting.{name}")
        if name in CHOICES:
            choices = {v: tr(f"loyalty.setting.{name}.{v}") for v in CHOICES[name]}
            element: ui.select | ui.input = ui.select(choices, label=label, value=self.initial.get(name))
            element.props("options-dense")
        else:
            element = ui.input(label, value=self.initial.get(name, ""))
            hint = tr(f"loyalty.setting.{name}.hint")
            if hint != f"loyalty.setting.{name}.hint":
                element.props["hint"] = hint
        element.props("outlined dense").classes("w-full").mark(f"setting-{name}")
        if not self.editable:
            element.disable()
        self.fields[name] = element

    def build(self) -> None:
        with card(tr("loyalty.program.settings"), marker="program-settings"):
            for group, names in GROUPS:
                ui.label(tr(f"loyalty.program.group.{group}")).classes("text-sm font-medium text-slate-600 mt-2")
                with ui.element("div").classes("grid grid-cols-1 md:grid-cols-3 gap-x-4 gap-y-2 w-full"):
                    for name in names:
                        self._field(name)
            self.banner = ui.column().classes("w-full gap-1").mark("settings-errors")
            if self.editable:
                with ui.row().classes("w-full justify-end"):
                    ui.button(tr("form.save"), icon="save", on_click=self.save).props("unelevated no-caps").mark(
                        "save-settings"
                    )

    def _clear(self) -> None:
        for element in self.fields.values():
            if element.props.get("error"):
                set_field_error(element, None)
        self.banner.clear()

    def changes(self) -> tuple[dict[str, Any], list[FieldError]]:
        changes: dict[str, Any] = {}
        errors: list[FieldError] = []
        texts = {name: str(getattr(element, "value", "") or "") for name, element in self.fields.items()}
        if self.weights:
            texts["growth_weights"] = self.weights_text()
        for name, text in texts.items():
            if text.strip() == self.initial.get(name, "").strip():
                continue
            if not text.strip() and name not in ("reminder_days", "growth_weights"):
                errors.append(FieldError(name, tr("error.required"), "required"))
                continue
            try:
                changes[name] = parsed(name, text)
            except ValueError as exc:
                errors.append(FieldError(name, str(exc), "format"))
        return changes, errors

    def save(self) -> None:
        self._clear()
        changes, errors = self.changes()
        if errors:
            self.show(errors)
            return
        if not changes:
            ui.notify(tr("loyalty.program.no_changes"), type="info")
            return
        try:
            data = ProgramSettingsIn.model_validate(changes)
        except ValidationError as exc:
            self.show(field_errors(exc))
            return
        result = perform(lambda s, p: config.update_settings(s, p, data), notify=False)
        if result.error is not None:
            show_failure(result.error, self.show)
            return
        assert result.value is not None
        self.initial = {name: shown(name, value) for name, value in result.value.settings.items()}
        ui.notify(tr("form.saved"), type="positive")

    def show(self, errors: list[FieldError]) -> None:
        unplaced = apply_field_errors(self.fields, errors)
        with self.banner:
            notice(tr("form.fix_errors"), kind="error")
            for text in unplaced:
                ui.label(text).classes("text-sm text-red-800")


def program_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with loyalty_frame(principal, PATH):
        page_title(tr("loyalty.program.title"))
        result = perform(lambda s, p: config.describe(s, p), principal=principal, write=False)
        if result.value is None:
            notice(unavailable_text(result.error))
            return None
        program = result.value
        if not is_allowed(principal, "programs", "update"):
            notice(tr("loyalty.program.read_only"))
        with ui.row().classes("w-full items-center gap-3 text-sm text-slate-600"):
            ui.label(tr("loyalty.program.version", version=program.version)).mark("program-version")
            ui.label(
                tr(
                    "loyalty.program.currency_zone",
                    currency=get_currency_name(program.currency, locale=formatting.locale_of(language())),
                    zone=get_timezone_location(program.timezone, locale=formatting.locale_of(language())),
                )
            ).mark("program-currency")
        SettingsForm(principal, program).build()
        TierEditor(principal, program).build()
        RulesEditor(principal, program).build()
    return None
