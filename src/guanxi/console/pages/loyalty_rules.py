"""Earning rules on the program page: the list with each rule's parameters labelled, and a form
with the labelled fields of the rule's kind (`loyalty_rule_form`), checked on every change by
`loyalty.program.settings.validate_rule` (the same check the save runs), each problem shown under
its field. A new rule starts from a template of the chosen kind."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from nicegui import ui

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.pages.loyalty_common import show_failure
from guanxi.console.pages.loyalty_rule_form import RuleForm, say, summary
from guanxi.console.session import language, tr
from guanxi.console.widgets import card, choice
from guanxi.kit.errors import DomainError, FieldError
from guanxi.kit.i18n import t
from guanxi.kit.principal import Principal
from guanxi.loyalty.explain import rule_name
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
    name_en = t(f"loyalty.rule_kind.{kind}", "en")
    return {"code": f"new_{kind}", "name": choice("loyalty.rule_kind", kind), "name_en": name_en, "kind": kind} | (
        TEMPLATES[kind]
    )


def rule_row(rule: RuleOut, currency: str = "CNY") -> dict[str, Any]:
    return {
        "code": rule.code,
        "name": rule_name(rule.definition, language()),
        "kind": choice("loyalty.rule_kind", rule.kind),
        "priority": rule.priority,
        "active": tr("common.yes") if rule.active else tr("common.no"),
        "summary": summary(rule.definition, currency),
    }


def check(definition: dict[str, Any]) -> list[FieldError]:
    """The problems of a definition by field (none when it is a valid rule)."""
    try:
        config.validate_rule(definition)
    except DomainError as exc:
        return exc.errors or [FieldError("definition", exc.message)]
    return []


ROW_ACTIONS = r"""
<q-td :props="props">
  <q-btn flat dense round icon="edit" size="sm" @click.stop="$parent.$emit('edit', props.row)" />
  <q-btn v-if="props.row.deletable" flat dense round icon="delete" size="sm" color="negative"
         @click.stop="$parent.$emit('delete', props.row)" />
</q-td>
"""


class RulesEditor:
    """The program's rules, saved one by one (`store` and `discard` write them)."""

    TITLE = "loyalty.rules.title"
    HELP: str | None = None
    SAVED = "form.saved"
    DELETED = "loyalty.rules.deleted"

    def __init__(self, principal: Principal, program: ProgramOut) -> None:
        self.editable = is_allowed(principal, "programs", "update")
        self.rules = list(program.rules)
        self.currency = program.currency
        self.form: RuleForm | None = None
        self.kind = "base_rate"
        self.editing: str | None = None  # the code being edited; None for a new rule
        self.deleting: str | None = None

    def build(self) -> None:
        with self.container():
            if self.HELP:
                ui.label(tr(self.HELP)).classes("text-sm text-slate-500")
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

    def container(self) -> AbstractContextManager[Any]:
        return card(tr(self.TITLE), marker="rules")

    def _render(self) -> None:
        rows = [rule_row(r, self.currency) | {"deletable": self.editable} for r in self.rules]
        self.table.rows = rows
        self.table.update()

    def _editor_dialog(self) -> None:
        with ui.dialog().props("persistent") as self.dialog, ui.card().classes("w-[44rem] max-w-full gap-2"):
            self.dialog_title = ui.label("").classes("text-lg font-medium")
            ui.label(tr("loyalty.rules.form_help")).classes("text-sm text-slate-500")
            self.body = ui.column().classes("w-full gap-2")
            self.status = ui.column().classes("w-full gap-1").mark("rule-errors")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(tr("form.cancel"), on_click=self.dialog.close).props("flat no-caps").mark("rule-cancel")
                if self.editable:
                    ui.button(tr("form.save"), icon="save", on_click=self.save).props("unelevated no-caps").mark(
                        "save-rule"
                    )

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
        self.kind = str(definition.get("kind") or "base_rate")
        self.body.clear()
        with self.body:
            self.form = RuleForm(self.kind, definition, self.validate, editing=self.editing is not None)
        if not self.editable:
            for element in self.form.fields.values():
                if hasattr(element, "disable"):
                    element.disable()
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
        rest = self.form.show_errors(errors) if self.form is not None else errors
        self.status.clear()
        with self.status:
            if not errors:
                ui.label(tr("loyalty.rules.valid")).classes("text-sm text-green-700").mark("rule-valid")
                return
            if not rest:
                ui.label(tr("form.fix_errors")).classes("text-sm text-red-800").mark("rule-error")
            for error in rest:
                ui.label(say(error)).classes("text-sm text-red-800").mark("rule-error")

    def validate(self) -> None:
        if self.form is not None:
            self.show(check(self.form.definition()))

    def save(self) -> None:
        if self.form is None:
            return
        definition = self.form.definition()
        errors = check(definition)
        if errors:
            self.show(errors)
            return
        code = self.editing or str(definition.get("code", ""))
        if self.editing is None and any(r.code == code for r in self.rules):
            message = tr("loyalty.rules.code_taken", code=code)
            self.show(
                [FieldError("definition.code", message, "taken", params={"code": code}, key="loyalty.rules.code_taken")]
            )
            return
        saved = self.store(code, definition)
        if saved is None:
            return
        self.rules = sorted(
            [r for r in self.rules if r.code != saved.code] + [saved], key=lambda r: (r.priority, r.code)
        )
        self._render()
        self.dialog.close()
        ui.notify(tr(self.SAVED), type="positive")

    def store(self, code: str, definition: dict[str, Any]) -> RuleOut | None:
        """Save the checked definition; None when it was refused (the dialog shows why)."""
        result = perform(lambda s, p: config.put_rule(s, p, code, definition), notify=False)
        if result.error is not None:
            show_failure(result.error, self.show)
            return None
        return result.value

    def discard(self, code: str) -> bool:
        return perform(lambda s, p: config.delete_rule(s, p, code)).ok

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
        if self.discard(code):
            self.rules = [r for r in self.rules if r.code != code]
            self._render()
            ui.notify(tr(self.DELETED, code=code), type="positive")


class ScenarioRules(RulesEditor):
    """The same list and form on the simulation page: the changes stay in the scenario, nothing is
    saved, so whoever may run a simulation may change them (the run checks its own permission)."""

    TITLE = "loyalty.simulation.change_rules"
    HELP = "loyalty.simulation.rules_help"
    SAVED = "loyalty.simulation.rule_kept"
    DELETED = "loyalty.simulation.rule_removed"

    def __init__(self, principal: Principal, program: ProgramOut) -> None:
        super().__init__(principal, program)
        self.editable = True
        self.original = [r.definition for r in program.rules]

    def container(self) -> AbstractContextManager[Any]:
        # Folded: most scenarios change the ladder only.
        return ui.expansion(tr(self.TITLE), icon="rule").classes("w-full").props("dense").mark("sim-rules")

    def store(self, code: str, definition: dict[str, Any]) -> RuleOut | None:
        return config.validate_rule(definition)  # checked already: `save` ran `check`

    def discard(self, code: str) -> bool:
        return True

    def definitions(self) -> list[dict[str, Any]] | None:
        """The scenario's rules when they differ from the program's, else None (the program's apply)."""
        current = [r.definition for r in self.rules]
        return None if current == self.original else current
