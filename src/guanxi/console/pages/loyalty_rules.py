"""Earning rules on the program page: the list, and an editor for one rule's definition as JSON,
checked on every change by `loyalty.program.settings.validate_rule` (the same check the save runs), with each
problem shown by its field. A new rule starts from a template of the chosen kind."""

from __future__ import annotations

import json
from typing import Any

from nicegui import ui

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.pages.loyalty_common import show_failure
from guanxi.console.session import tr
from guanxi.console.widgets import card, choice
from guanxi.kit.errors import DomainError, FieldError
from guanxi.kit.principal import Principal
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.settings import ProgramOut, RuleOut

# A valid starting point per kind; the marketer changes the figures, code and name.
TEMPLATES: dict[str, dict[str, Any]] = {
    "base_rate": {"points": "1", "per_amount": "1", "rounding": "floor", "priority": 100},
    "minimum_order": {"min_amount": "50", "priority": 10},
    "exclusion": {"categories": ["gift_card"], "skus": [], "priority": 20},
    "tier_multiplier": {"priority": 200},
    "category_multiplier": {"categories": ["beauty"], "multiplier": "2", "priority": 300},
    "campaign_multiplier": {"multiplier": "3", "weekdays": [5], "priority": 300},
    "birthday_bonus": {"multiplier": "2", "bonus_points": 0, "priority": 400},
    "action_bonus": {"action": "checkin", "points": 5, "streak_bonuses": {"7": 20}, "priority": 500},
    "daily_cap": {"max_points": 5000, "priority": 900},
}
COMMON = ("code", "name", "kind", "priority", "active", "stop_further")


def template(kind: str) -> dict[str, Any]:
    return {"code": f"new_{kind}", "name": choice("loyalty.rule_kind", kind), "kind": kind, **TEMPLATES[kind]}


def summary(definition: dict[str, Any]) -> str:
    """The kind-specific figures of a rule in one line (everything but the common fields)."""
    parts = []
    for key, value in definition.items():
        if key in COMMON or value in (None, [], {}, False):
            continue
        if key in ("currency",) and value == "CNY":
            continue
        if isinstance(value, list):
            shown = ", ".join(map(str, value))
        elif isinstance(value, str):
            shown = value
        else:  # numbers, true/false and objects as JSON writes them
            shown = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={shown}")
    return "; ".join(parts)


def rule_row(rule: RuleOut) -> dict[str, Any]:
    return {
        "code": rule.code,
        "name": str(rule.definition.get("name", "")),
        "kind": choice("loyalty.rule_kind", rule.kind),
        "priority": rule.priority,
        "active": tr("common.yes") if rule.active else tr("common.no"),
        "summary": summary(rule.definition),
    }


def check(text: str) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """The definition if it is valid JSON and a valid rule, else the problems by field."""
    try:
        definition = json.loads(text)
    except ValueError as exc:
        return None, [FieldError("definition", tr("loyalty.rules.bad_json", error=str(exc)), "json")]
    if not isinstance(definition, dict):
        return None, [FieldError("definition", tr("loyalty.rules.not_object"), "json")]
    try:
        config.validate_rule(definition)
    except DomainError as exc:
        return definition, exc.errors or [FieldError("definition", exc.message)]
    return definition, []


ROW_ACTIONS = r"""
<q-td :props="props">
  <q-btn flat dense round icon="edit" size="sm" @click.stop="$parent.$emit('edit', props.row)" />
  <q-btn v-if="props.row.deletable" flat dense round icon="delete" size="sm" color="negative"
         @click.stop="$parent.$emit('delete', props.row)" />
</q-td>
"""


class RulesEditor:
    def __init__(self, principal: Principal, program: ProgramOut) -> None:
        self.editable = is_allowed(principal, "programs", "update")
        self.rules = list(program.rules)
        self.editing: str | None = None  # the code being edited; None for a new rule
        self.deleting: str | None = None

    def build(self) -> None:
        with card(tr("loyalty.rules.title"), marker="rules"):
            if self.editable:
                with ui.row().classes("w-full items-center gap-2"):
                    kinds = {k: choice("loyalty.rule_kind", k) for k in TEMPLATES}
                    self.new_kind = ui.select(kinds, value="campaign_multiplier", label=tr("loyalty.rules.kind"))
                    self.new_kind.props("outlined dense options-dense").classes("min-w-48").mark("new-rule-kind")
                    ui.button(tr("loyalty.rules.new"), icon="add", on_click=self.new).props("unelevated no-caps").mark(
                        "new-rule"
                    )
            names = ("code", "name", "kind", "priority", "active", "summary")
            columns = [{"name": n, "label": tr(f"loyalty.rules.{n}"), "field": n, "align": "left"} for n in names]
            columns.append({"name": "actions", "label": "", "field": "code", "align": "right"})
            self.table = ui.table(rows=[], columns=columns, row_key="code").props("flat dense wrap-cells")
            self.table.classes("w-full").mark("rules-table")
            self.table.add_slot("body-cell-actions", ROW_ACTIONS)
            self.table.on("edit", lambda e: self.edit(e.args))
            self.table.on("delete", lambda e: self.ask_delete(e.args))
        self._editor_dialog()
        self._delete_dialog()
        self._render()

    def _render(self) -> None:
        rows = [rule_row(r) | {"deletable": self.editable} for r in self.rules]
        self.table.rows = rows
        self.table.update()

    def _editor_dialog(self) -> None:
        with ui.dialog().props("persistent") as self.dialog, ui.card().classes("w-[44rem] max-w-full gap-2"):
            self.dialog_title = ui.label("").classes("text-lg font-medium")
            ui.label(tr("loyalty.rules.json_help")).classes("text-sm text-slate-500")
            self.editor = ui.codemirror("", language="JSON", on_change=self.validate).classes("w-full h-80 border")
            self.editor.mark("rule-editor")
            self.status = ui.column().classes("w-full gap-1").mark("rule-errors")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=self.dialog.close).props("flat no-caps").mark("rule-cancel")
                if self.editable:
                    ui.button(tr("form.save"), icon="save", on_click=self.save).props("unelevated no-caps").mark(
                        "save-rule"
                    )
        if not self.editable:
            self.editor.disable()

    def _delete_dialog(self) -> None:
        with ui.dialog() as self.confirm, ui.card().classes("gap-3"):
            self.confirm_text = ui.label("")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=self.confirm.close).props("flat no-caps")
                ui.button(tr("loyalty.rules.delete"), on_click=self.delete).props(
                    "unelevated no-caps color=negative"
                ).mark("confirm-delete-rule")

    def _open(self, title: str, definition: dict[str, Any]) -> None:
        self.dialog_title.set_text(title)
        self.editor.value = json.dumps(definition, ensure_ascii=False, indent=2)
        self.validate()
        self.dialog.open()

    def new(self) -> None:
        self.editing = None
        kind = self.new_kind.value or "base_rate"
        self._open(tr("loyalty.rules.new_title", kind=choice("loyalty.rule_kind", kind)), template(kind))

    def edit(self, row: Any) -> None:
        code = row.get("code") if isinstance(row, dict) else None
        rule = next((r for r in self.rules if r.code == code), None)
        if rule is None:
            return
        self.editing = rule.code
        self._open(tr("loyalty.rules.edit_title", code=rule.code), rule.definition)

    def show(self, errors: list[FieldError]) -> None:
        self.status.clear()
        with self.status:
            if not errors:
                ui.label(tr("loyalty.rules.valid")).classes("text-sm text-green-700").mark("rule-valid")
                return
            for error in errors:
                field = error.field.removeprefix("definition.").removeprefix("definition")
                text = f"{field}: {error.message}" if field else error.message
                ui.label(text).classes("text-sm text-red-800 font-mono").mark("rule-error")

    def validate(self) -> None:
        _, errors = check(self.editor.value or "")
        self.show(errors)

    def save(self) -> None:
        definition, errors = check(self.editor.value or "")
        if definition is None or errors:
            self.show(errors)
            return
        code = self.editing or str(definition.get("code", ""))
        if self.editing is None and any(r.code == code for r in self.rules):
            self.show([FieldError("definition.code", tr("loyalty.rules.code_taken", code=code), "taken")])
            return
        result = perform(lambda s, p: config.put_rule(s, p, code, definition), notify=False)
        if result.error is not None:
            show_failure(result.error, self.show)
            return
        saved = result.value
        assert saved is not None
        self.rules = sorted(
            [r for r in self.rules if r.code != saved.code] + [saved], key=lambda r: (r.priority, r.code)
        )
        self._render()
        self.dialog.close()
        ui.notify(tr("form.saved"), type="positive")

    def ask_delete(self, row: Any) -> None:
        code = row.get("code") if isinstance(row, dict) else None
        if not code:
            return
        self.deleting = str(code)
        self.confirm_text.set_text(tr("loyalty.rules.confirm_delete", code=code))
        self.confirm.open()

    def delete(self) -> None:
        code = self.deleting
        self.confirm.close()
        if code is None:
            return
        result = perform(lambda s, p: config.delete_rule(s, p, code))
        if result.ok:
            self.rules = [r for r in self.rules if r.code != code]
            self._render()
            ui.notify(tr("loyalty.rules.deleted", code=code), type="positive")
