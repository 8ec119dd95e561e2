"""Analytics settings page: what the next run computes with (the RFM window and weights, the
lifecycle thresholds, the CLV horizon). Everybody who reads analytics sees them; who may update
analytics changes them, through the same service as the API (`analytics.settings`)."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from guanxi.analytics import settings
from guanxi.analytics.settings import AnalyticsSettingsIn
from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import notify_error, perform
from guanxi.console.layout import frame
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import page_title, set_field_error
from guanxi.kit import i18n

PATH = "/analytics/settings"
PRESETS = ("balanced", "fmcg", "durables", "b2b")
MODES = ("relative", "fixed")
# (field path, kind): numbers typed by people; the lifecycle's are nested in the document
NUMBERS: tuple[tuple[str, type], ...] = (
    ("rfm_window_days", int),
    ("lifecycle.new_days", int),
    ("lifecycle.at_risk_days", int),
    ("lifecycle.dormant_days", int),
    ("lifecycle.churned_days", int),
    ("lifecycle.at_risk_cycles", float),
    ("lifecycle.dormant_cycles", float),
    ("lifecycle.churned_cycles", float),
    ("lifecycle.min_days", int),
    ("lifecycle.max_days", int),
    ("clv_months", int),
    ("monthly_discount", float),
    ("margin", float),
)


def _label(path: str) -> str:
    return tr(f"analytics.settings.field.{path.replace('.', '_')}")


def analytics_settings_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, PATH):
        page_title(tr("analytics.settings.title"))
        ui.label(tr("analytics.settings.explain")).classes("text-sm text-slate-600")
        result = perform(lambda s, p: settings.get_settings(s, p), principal=principal, write=False)
        if result.value is None:
            return None
        _form(result.value, editable=is_allowed(principal, "analytics", "update"))
    return None


def _form(current: AnalyticsSettingsIn, *, editable: bool) -> None:
    data = current.model_dump(mode="json")
    fields: dict[str, Any] = {}
    with ui.card().classes("w-full max-w-3xl gap-2").mark("settings-form"):
        ui.label(tr("analytics.settings.rfm")).classes("text-lg font-medium")
        presets = {p: tr(f"analytics.settings.preset.{p}") for p in PRESETS}
        fields["rfm_preset"] = ui.select(presets, label=_label("rfm_preset"), value=data["rfm_preset"])
        map_key = (
            "analytics.settings.map_standard" if data["segment_rules"] is None else "analytics.settings.map_custom"
        )
        ui.label(tr(map_key)).classes("text-xs text-slate-500")
        ui.label(tr("analytics.settings.lifecycle")).classes("text-lg font-medium mt-2")
        modes = {m: tr(f"analytics.settings.mode.{m}") for m in MODES}
        fields["lifecycle.mode"] = ui.select(modes, label=_label("lifecycle.mode"), value=data["lifecycle"]["mode"])
        with ui.grid(columns=2).classes("w-full gap-x-4"):
            for path, _kind in NUMBERS:
                head, _, tail = path.partition(".")
                value = data[head][tail] if tail else data[head]
                fields[path] = ui.number(_label(path), value=value).mark(f"settings-{path.replace('.', '-')}")
        for path, element in fields.items():
            element.classes("w-full")
            if path in ("rfm_preset", "lifecycle.mode"):
                element.mark(f"settings-{path.replace('.', '-')}")
            if not editable:
                element.props("readonly")
        if editable:
            ui.button(tr("analytics.settings.save"), on_click=lambda: _save(data, fields)).props(
                "unelevated no-caps"
            ).mark("settings-save")


def _document(data: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    document = {**data, "lifecycle": dict(data["lifecycle"])}
    for path, element in fields.items():
        kind = dict(NUMBERS).get(path)
        value = element.value
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        head, _, tail = path.partition(".")
        if tail:
            document[head][tail] = value
        else:
            document[head] = value
    return document


def _save(data: dict[str, Any], fields: dict[str, Any]) -> None:
    for element in fields.values():
        set_field_error(element, None)
    try:
        values = AnalyticsSettingsIn.model_validate(_document(data, fields))
    except ValidationError as exc:
        _place(fields, exc)
        return
    result = perform(lambda s, p: settings.update_settings(s, p, values), notify=False)
    if result.error is not None:
        notify_error(result.error)
        return
    ui.notify(tr("analytics.settings.saved"), type="positive")


def _place(fields: dict[str, Any], exc: ValidationError) -> None:
    """Each problem under its input, in the reader's language (an ordering rule of the lifecycle
    thresholds under its first threshold)."""
    lang = language()
    for item in exc.errors():
        loc = [str(part) for part in item.get("loc") or ()]
        path = ".".join(loc[:2])
        if path not in fields:
            path = "lifecycle.at_risk_days" if loc[:1] == ["lifecycle"] else "rfm_window_days"
        text = i18n.pydantic_message(item.get("type", ""), str(item.get("msg", "")), lang, item.get("ctx"))
        set_field_error(fields[path], text)
