"""The tier ladder editor on the program page: one row per tier, lowest first (the rank follows the
row order), saved as a whole through `loyalty.program.settings.replace_tiers`, which checks the ladder
(thresholds rising from 0, unique codes, positive multipliers) before anything is written."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.pages.loyalty_common import field_errors, show_failure
from guanxi.console.session import tr
from guanxi.console.widgets import card, notice, set_field_error
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.settings import ProgramOut, TierLadderIn

COLUMNS = ("code", "name", "name_en", "threshold", "points_multiplier", "discount_pct", "is_core", "benefits")
# Benefits with a column of their own; the rest stay in the JSON field.
OWN_COLUMNS = ("points_multiplier", "discount_pct")


def row_values(tier: dict[str, Any]) -> dict[str, Any]:
    benefits = dict(tier.get("benefits") or {})
    own = {name: benefits.pop(name, None) for name in OWN_COLUMNS}
    return {
        "code": tier.get("code", ""),
        "name": tier.get("name", ""),
        "name_en": tier.get("name_en", ""),
        "threshold": format(Decimal(str(tier["threshold"])).normalize(), "f")
        if tier.get("threshold") is not None
        else "",
        "points_multiplier": "" if own["points_multiplier"] is None else str(own["points_multiplier"]),
        "discount_pct": "" if own["discount_pct"] is None else str(own["discount_pct"]),
        "is_core": bool(tier.get("is_core")),
        "benefits": json.dumps(benefits, ensure_ascii=False) if benefits else "",
    }


def ladder_payload(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[FieldError]]:
    """The rows as the ladder model takes them; a benefits field that is not a JSON object is an error."""
    tiers: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for i, row in enumerate(rows):
        benefits: dict[str, Any] = {}
        text = str(row.get("benefits") or "").strip()
        if text:
            try:
                loaded = json.loads(text)
            except ValueError:
                loaded = None
            if not isinstance(loaded, dict):
                errors.append(FieldError(f"tiers[{i}].benefits", tr("loyalty.tiers.benefits_json"), "json"))
            else:
                benefits = loaded
        for name in OWN_COLUMNS:
            value = str(row.get(name) or "").strip()
            if value:
                benefits[name] = value
        tiers.append(
            {
                "code": str(row.get("code") or "").strip(),
                "name": str(row.get("name") or "").strip(),
                "name_en": str(row.get("name_en") or "").strip(),
                "threshold": str(row.get("threshold") or "").strip() or None,
                "is_core": bool(row.get("is_core")),
                "benefits": benefits,
            }
        )
    return {"tiers": tiers}, errors


def field_key(path: str) -> str:
    """tiers[2].benefits.points_multiplier -> tiers[2].points_multiplier (the column it is in)."""
    head, _, rest = path.partition(".")
    if rest.startswith("benefits."):
        name = rest.removeprefix("benefits.")
        return f"{head}.{name}" if name in OWN_COLUMNS else f"{head}.benefits"
    if rest == "rank":
        return f"{head}.threshold"
    return path


class TierEditor:
    def __init__(self, principal: Principal, program: ProgramOut) -> None:
        self.editable = is_allowed(principal, "programs", "update")
        self.rows = [row_values(t) for t in program.tiers]
        self.fields: dict[str, ui.element] = {}

    def build(self) -> None:
        with card(tr("loyalty.tiers.ladder"), marker="tier-ladder"):
            ui.label(tr("loyalty.tiers.ladder_help")).classes("text-sm text-slate-500")
            self.box = ui.column().classes("w-full gap-2")
            self.banner = ui.column().classes("w-full gap-1").mark("tier-errors")
            if self.editable:
                with ui.row().classes("w-full justify-between"):
                    ui.button(tr("loyalty.tiers.add"), icon="add", on_click=self.add).props("flat no-caps").mark(
                        "add-tier"
                    )
                    ui.button(tr("form.save"), icon="save", on_click=self.save).props("unelevated no-caps").mark(
                        "save-tiers"
                    )
        self.render()

    def render(self) -> None:
        self.box.clear()
        self.fields = {}
        with self.box:
            for i, row in enumerate(self.rows):
                self._row(i, row)

    def _row(self, i: int, row: dict[str, Any]) -> None:
        widths = {
            "code": "w-28",
            "name": "w-32",
            "name_en": "w-28",
            "threshold": "w-28",
            "points_multiplier": "w-24",
            "discount_pct": "w-24",
            "benefits": "flex-1 min-w-48",
        }
        with ui.row().classes("w-full items-start gap-2 no-wrap max-lg:flex-wrap").mark(f"tier-row-{i}"):
            ui.label(str(i + 1)).classes("w-6 pt-2 text-slate-500")
            for name in COLUMNS:
                key = f"tiers[{i}].{name}"
                if name == "is_core":
                    element: ui.checkbox | ui.input = ui.checkbox(tr("loyalty.tiers.is_core"), value=row["is_core"])
                else:
                    element = ui.input(tr(f"loyalty.tiers.{name}"), value=row[name]).props("outlined dense")
                    element.classes(widths[name])
                element.mark(f"tier-{i}-{name}")
                if not self.editable:
                    element.disable()
                self.fields[key] = element
            if self.editable and len(self.rows) > 1:
                ui.button(icon="delete", on_click=lambda _, n=i: self.remove(n)).props("flat round dense").mark(
                    f"remove-tier-{i}"
                )

    def _read(self) -> list[dict[str, Any]]:
        return [
            {name: getattr(self.fields[f"tiers[{i}].{name}"], "value", None) for name in COLUMNS}
            for i in range(len(self.rows))
        ]

    def add(self) -> None:
        self.rows = self._read()
        blank = {name: "" for name in COLUMNS} | {"is_core": False}
        self.rows.append(blank)
        self.render()

    def remove(self, index: int) -> None:
        self.rows = self._read()
        if len(self.rows) > 1:
            del self.rows[index]
        self.render()

    def _clear(self) -> None:
        for element in self.fields.values():
            if element.props.get("error"):
                set_field_error(element, None)
        self.banner.clear()

    def show(self, errors: list[FieldError]) -> None:
        unplaced: list[str] = []
        for error in errors:
            element = self.fields.get(field_key(error.field))
            if element is None or isinstance(element, ui.checkbox):
                unplaced.append(f"{error.field}: {error.message}")
            else:
                set_field_error(element, error.message)
        with self.banner:
            notice(tr("form.fix_errors"), kind="error")
            for text in unplaced:
                ui.label(text).classes("text-sm text-red-800")

    def save(self) -> None:
        self._clear()
        self.rows = self._read()
        payload, errors = ladder_payload(self.rows)
        if errors:
            self.show(errors)
            return
        try:
            data = TierLadderIn.model_validate(payload)
        except ValidationError as exc:
            self.show(field_errors(exc))
            return
        result = perform(lambda s, p: config.replace_tiers(s, p, data), notify=False)
        if result.error is not None:
            show_failure(result.error, self.show)
            return
        assert result.value is not None
        self.rows = [row_values(t) for t in result.value.tiers]
        self.render()
        ui.notify(tr("form.saved"), type="positive")
