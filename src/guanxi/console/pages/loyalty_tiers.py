"""The tier ladder editor on the program page: one row per tier, lowest first (the rank follows the
row order), saved as a whole through `loyalty.program.settings.replace_tiers`, which checks the ladder
(thresholds rising from 0, unique codes, positive multipliers) before anything is written."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import field_message, perform
from guanxi.console.pages.loyalty_common import field_errors, show_failure
from guanxi.console.session import tr
from guanxi.console.widgets import card, choice, notice, set_field_error
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.settings import ProgramOut, TierLadderIn

INPUTS = (
    "code",
    "name",
    "name_en",
    "threshold",
    "points_multiplier",
    "discount_pct",
    "birthday_gift",
    "birthday_gift_en",
)
# Inputs holding an identifier or words in one given language (the English name on a Chinese page):
# shown as typed, whatever the page's language.
VERBATIM = frozenset({"code", "name", "name_en", "birthday_gift", "birthday_gift_en"})
# Benefits that are on or off, each a labelled checkbox.
SWITCHES = ("free_shipping", "priority_service", "dedicated_advisor")
COLUMNS = (*INPUTS, "is_core", *SWITCHES)
# Benefits with a field of their own; any other key a brand stored (through the API) is kept as it is.
BENEFITS = ("points_multiplier", "discount_pct", "birthday_gift", "birthday_gift_en", *SWITCHES)


def row_values(tier: dict[str, Any]) -> dict[str, Any]:
    benefits = dict(tier.get("benefits") or {})
    own = {name: benefits.pop(name, None) for name in BENEFITS}
    return {
        "code": tier.get("code", ""),
        "name": tier.get("name", ""),
        "name_en": tier.get("name_en", ""),
        "threshold": format(Decimal(str(tier["threshold"])).normalize(), "f")
        if tier.get("threshold") is not None
        else "",
        **{name: "" if own[name] is None else str(own[name]) for name in INPUTS if name in BENEFITS},
        "is_core": bool(tier.get("is_core")),
        **{name: own[name] is True for name in SWITCHES},
        "other": benefits,
    }


def ladder_payload(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows as the ladder model takes them: the labelled benefits over the ones kept as they were."""
    tiers: list[dict[str, Any]] = []
    for row in rows:
        benefits: dict[str, Any] = dict(row.get("other") or {})
        for name in INPUTS:
            if name in BENEFITS and (value := str(row.get(name) or "").strip()):
                benefits[name] = value
        for name in SWITCHES:
            if row.get(name):
                benefits[name] = True
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
    return {"tiers": tiers}


def field_key(path: str) -> str:
    """tiers[2].benefits.points_multiplier -> tiers[2].points_multiplier (the column it is in)."""
    head, _, rest = path.partition(".")
    if rest.startswith("benefits."):
        name = rest.removeprefix("benefits.")
        return f"{head}.{name}" if name in INPUTS else f"{head}.birthday_gift"
    if rest == "rank":
        return f"{head}.threshold"
    return path


class TierEditor:
    def __init__(self, principal: Principal, program: ProgramOut) -> None:
        self.editable = is_allowed(principal, "programs", "update")
        self.rows = [row_values(t) for t in program.tiers]
        self.fields: dict[str, ui.element] = {}
        self.others: dict[int, dict[str, Any]] = {}

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
        self.others = {}
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
            "birthday_gift": "flex-1 min-w-32",
            "birthday_gift_en": "flex-1 min-w-32",
        }
        with ui.column().classes("w-full gap-1 border-b border-slate-100 pb-2").mark(f"tier-row-{i}"):
            with ui.row().classes("w-full items-start gap-2 no-wrap max-lg:flex-wrap"):
                ui.label(str(i + 1)).classes("w-6 pt-2 text-slate-500")
                for name in INPUTS:
                    element = ui.input(tr(f"loyalty.tiers.{name}"), value=row[name]).props("outlined dense")
                    self._keep(i, name, element.classes(widths[name]))
                if self.editable and len(self.rows) > 1:
                    ui.button(icon="delete", on_click=lambda _, n=i: self.remove(n)).props("flat round dense").mark(
                        f"remove-tier-{i}"
                    )
            with ui.row().classes("w-full items-center gap-4 pl-8"):
                self._keep(i, "is_core", ui.checkbox(tr("loyalty.tiers.is_core"), value=row["is_core"]))
                for name in SWITCHES:
                    self._keep(i, name, ui.checkbox(tr(f"loyalty.benefit.{name}"), value=row[name]))
                other = row.get("other") or {}
                if other:
                    # Keys a brand stored through the API: kept on save, shown for the record.
                    texts = [f"{choice('loyalty.benefit', k)}: {v}" for k, v in other.items()]
                    ui.label(tr("loyalty.tiers.other_benefits", items="; ".join(texts))).classes(
                        "text-xs text-slate-500"
                    ).mark(f"tier-{i}-other")
        self.others[i] = dict(other)

    def _keep(self, i: int, name: str, element: ui.input | ui.checkbox) -> None:
        element.mark(f"tier-{i}-{name}", *(("verbatim",) if name in VERBATIM else ()))
        if not self.editable:
            element.disable()
        self.fields[f"tiers[{i}].{name}"] = element

    def _read(self) -> list[dict[str, Any]]:
        return [
            {name: getattr(self.fields[f"tiers[{i}].{name}"], "value", None) for name in COLUMNS}
            | {"other": self.others.get(i, {})}
            for i in range(len(self.rows))
        ]

    def add(self) -> None:
        self.rows = self._read()
        blank: dict[str, Any] = (
            {name: "" for name in INPUTS} | {name: False for name in ("is_core", *SWITCHES)} | {"other": {}}
        )
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
            text = field_message(error.field, error.code, error.message, error.params, key=error.key)
            if element is None or isinstance(element, ui.checkbox):
                unplaced.append(text)
            else:
                set_field_error(element, text)
        with self.banner:
            notice(tr("form.fix_errors"), kind="error")
            for text in unplaced:
                ui.label(text).classes("text-sm text-red-800")

    def save(self) -> None:
        self._clear()
        self.rows = self._read()
        payload = ladder_payload(self.rows)
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
