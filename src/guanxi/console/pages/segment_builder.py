"""The condition builder shared by segments and tag rules: AND/OR groups of rules, with a live
count and a masked sample that follow every edit.

The builder edits a plain definition (the same JSON the API takes). The live preview counts the
rules the user has completed (a rule still waiting for its value is left out, so a fresh form shows
no error and adding a condition keeps the count); problems come back with the definition's path
(`conditions.groups[0].rules[1].value`), which the builder turns into a translated message under the
field it belongs to: people never read a path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from nicegui import ui
from pydantic import BaseModel, ValidationError

from guanxi.console.actions import notify_error, perform
from guanxi.console.pages.segment_definition import LIST_OPS, ROOT, completed, text_of, unpruned, value_from_text
from guanxi.console.session import language, tr
from guanxi.console.widgets import (
    EMPTY,
    apply_field_errors,
    card,
    pydantic_field_errors,
    set_field_error,
    show,
)
from guanxi.customers import event_types
from guanxi.kit import formatting
from guanxi.kit.errors import DomainError, FieldError, ValidationFailed
from guanxi.kit.i18n import field_message
from guanxi.marketing import conditions, segments
from guanxi.marketing.schemas import Preview

SAMPLE = 20


def new_rule() -> dict[str, Any]:
    return {"field": "city", "op": "eq"}


def _label(spec: conditions.FieldSpec) -> str:
    return spec.label_zh if language() == "zh-CN" else spec.label_en


def _op_label(op: str) -> str:
    key = f"segments.op.{op}"
    text = tr(key)
    return op if text == key else text


class ConditionBuilder:
    """Edits a definition in place; calls `on_change` after every edit.

    Each input is kept under the definition path the service names it by
    (`conditions.rules[0].value`), so a problem lands under its input; markers keep the short
    form (`value-g.r0`)."""

    def __init__(self, definition: dict[str, Any], on_change: Callable[[], None], events: dict[str, str]) -> None:
        self.definition = definition
        self.on_change = on_change
        self.events = events
        self.container: ui.column | None = None
        self.inputs: dict[str, ui.element] = {}
        self.submitted = False  # after a save was tried, rules waiting for a value say so too

    def build(self) -> None:
        self.container = ui.column().classes("w-full gap-2").mark("builder")
        self.general = ui.column().classes("gap-1").mark("builder-errors")
        self.render()

    def render(self) -> None:
        assert self.container is not None
        self.container.clear()
        self.inputs = {}
        with self.container:
            self._group(self.definition, "g", ROOT, None)

    def changed(self, *, structure: bool = False) -> None:
        if structure:
            self.render()
        self.on_change()

    def _keep(self, api_path: str, element: ui.element) -> None:
        self.inputs[api_path] = element

    def show_errors(self, errors: list[FieldError]) -> None:
        """Each problem under its input (the closest one its path names); the rest below the builder."""
        for element in self.inputs.values():
            if element.props.get("error"):
                set_field_error(element, None)
        self.general.clear()
        for error in errors:
            target = self._input_for(error.field)
            text = problem_text(error)
            if target is not None:
                set_field_error(target, text)
            else:
                with self.general:
                    ui.label(text).classes("text-sm text-red-700")

    def _input_for(self, path: str) -> ui.element | None:
        for key in sorted(self.inputs, key=len, reverse=True):
            if path == key or path.startswith((key + ".", key + "[")):
                return self.inputs[key]
        return None

    def _group(self, group: dict[str, Any], path: str, api: str, parent: list[dict[str, Any]] | None) -> None:
        group.setdefault("match", "all")
        group.setdefault("rules", [])
        group.setdefault("groups", [])
        depth = path.count(".")
        with ui.column().classes(f"w-full gap-2 rounded border border-slate-200 p-3 {'bg-white' if depth % 2 else ''}"):
            with ui.row().classes("items-center gap-2"):
                toggle = ui.toggle(
                    {"all": tr("segments.match_all"), "any": tr("segments.match_any")}, value=group["match"]
                ).props("dense no-caps")
                toggle.mark(f"match-{path}")

                def set_match(e: Any, g: dict[str, Any] = group) -> None:
                    g["match"] = e.value
                    self.changed()

                toggle.on_value_change(set_match)
                ui.button(tr("segments.add_rule"), icon="add", on_click=lambda g=group: self._add_rule(g)).props(
                    "flat dense no-caps"
                ).mark(f"add-rule-{path}")
                if depth < conditions.MAX_DEPTH - 1:
                    ui.button(
                        tr("segments.add_group"), icon="account_tree", on_click=lambda g=group: self._add_group(g)
                    ).props("flat dense no-caps").mark(f"add-group-{path}")
                if parent is not None:
                    ui.button(icon="delete", on_click=lambda: self._remove(parent, group)).props(
                        "flat dense round color=negative"
                    ).mark(f"remove-{path}")
            for i, rule in enumerate(group["rules"]):
                self._rule(rule, f"{path}.r{i}", f"{api}.rules[{i}]", group["rules"])
            for i, sub in enumerate(group["groups"]):
                self._group(sub, f"{path}.g{i}", f"{api}.groups[{i}]", group["groups"])

    def _add_rule(self, group: dict[str, Any]) -> None:
        group["rules"].append(new_rule())
        self.changed(structure=True)

    def _add_group(self, group: dict[str, Any]) -> None:
        group["groups"].append({"match": "any", "rules": [new_rule()], "groups": []})
        self.changed(structure=True)

    def _remove(self, items: list[dict[str, Any]], item: dict[str, Any]) -> None:
        items.remove(item)
        self.changed(structure=True)

    def _rule(self, rule: dict[str, Any], path: str, api: str, siblings: list[dict[str, Any]]) -> None:
        spec = conditions.FIELDS.get(rule.get("field", ""))
        fields = {
            name: f"{tr('segments.group.' + s.group)} · {_label(s)}"
            for name, s in conditions.FIELDS.items()
            if s.kind != "consent" or conditions.CONSENT_AVAILABLE
        }
        with ui.row().classes("w-full items-center gap-2 flex-wrap"):
            field_select = ui.select(fields, value=rule.get("field"), label=tr("segments.field")).props(
                "dense outlined options-dense"
            )
            field_select.classes("min-w-56").mark(f"field-{path}")
            self._keep(f"{api}.field", field_select)

            def set_field(e: Any) -> None:
                new_spec = conditions.FIELDS[e.value]
                rule.clear()
                rule.update({"field": e.value, "op": new_spec.ops[0]})
                if new_spec.windowed:
                    rule["window"] = {"last_days": 30}
                self.changed(structure=True)

            field_select.on_value_change(set_field)
            if spec is None:
                return
            op_select = ui.select({op: _op_label(op) for op in spec.ops}, value=rule.get("op"), label=tr("segments.op"))
            op_select.props("dense outlined options-dense").classes("min-w-32").mark(f"op-{path}")
            self._keep(f"{api}.op", op_select)

            def set_op(e: Any) -> None:
                rule["op"] = e.value
                if e.value in conditions.NO_VALUE_OPS:
                    rule.pop("value", None)
                self.changed(structure=True)

            op_select.on_value_change(set_op)
            self._value(rule, spec, path, api)
            if spec.kind == "event":
                count = ui.number(tr("segments.min_count"), value=rule.get("min_count", 1), min=1, format="%d")
                count.props("dense outlined").classes("w-28").mark(f"min-count-{path}")
                self._keep(f"{api}.min_count", count)

                def set_count(e: Any) -> None:
                    if e.value and int(e.value) > 1:
                        rule["min_count"] = int(e.value)
                    else:
                        rule.pop("min_count", None)
                    self.changed()

                count.on_value_change(set_count)
            if spec.windowed:
                days = ui.number(
                    tr("segments.last_days"), value=(rule.get("window") or {}).get("last_days"), min=1, format="%d"
                )
                days.props("dense outlined clearable").classes("w-32").mark(f"days-{path}")
                self._keep(f"{api}.window", days)

                def set_days(e: Any) -> None:
                    if e.value:
                        rule["window"] = {"last_days": int(e.value)}
                    else:
                        rule.pop("window", None)
                    self.changed()

                days.on_value_change(set_days)
            for key in spec.where_keys:
                box = ui.input(tr(f"segments.where.{key}"), value=(rule.get("where") or {}).get(key, ""))
                box.props("dense outlined clearable").classes("w-32").mark(f"where-{key}-{path}")
                self._keep(f"{api}.where.{key}", box)

                def set_where(e: Any, k: str = key) -> None:
                    where = dict(rule.get("where") or {})
                    if e.value and str(e.value).strip():
                        where[k] = str(e.value).strip()
                    else:
                        where.pop(k, None)
                    if where:
                        rule["where"] = where
                    else:
                        rule.pop("where", None)
                    self.changed()

                box.on_value_change(set_where)
            ui.button(icon="close", on_click=lambda: self._remove(siblings, rule)).props("flat dense round").mark(
                f"remove-{path}"
            )

    def _value(self, rule: dict[str, Any], spec: conditions.FieldSpec, path: str, api: str) -> None:
        op = rule.get("op", "")
        if op in conditions.NO_VALUE_OPS:
            return
        if spec.kind == "event":
            widget: Any = ui.select(self.events, value=rule.get("value"), label=tr("segments.event_type"))
            widget.props("dense outlined options-dense").classes("min-w-40")

            def set_event(e: Any) -> None:
                rule["value"] = e.value
                self.changed()

            widget.on_value_change(set_event)
        elif spec.choices and op not in LIST_OPS:
            widget = ui.select(
                {c: _choice_label(spec, c) for c in spec.choices}, value=rule.get("value"), label=tr("segments.value")
            )
            widget.props("dense outlined options-dense").classes("min-w-40")

            def set_choice(e: Any) -> None:
                rule["value"] = e.value
                self.changed()

            widget.on_value_change(set_choice)
        else:
            hint = tr("segments.list_hint") if op in LIST_OPS or op == "between" else ""
            widget = ui.input(tr("segments.value"), value=text_of(rule.get("value")), placeholder=hint)
            widget.props("dense outlined").classes("min-w-40")

            def set_text(e: Any) -> None:
                value = value_from_text(spec, rule.get("op", ""), str(e.value or ""))
                if value is None:
                    rule.pop("value", None)
                else:
                    rule["value"] = value
                self.changed()

            widget.on_value_change(set_text)
        widget.mark(f"value-{path}")
        self._keep(f"{api}.value", widget)


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: dict[str, Any]) -> M:
    """The form's values as the API's input model; its problems as a ValidationFailed (a notice)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = pydantic_field_errors(exc)
        raise ValidationFailed(message="; ".join(e.message for e in errors), errors=errors) from None


def _choice_label(spec: conditions.FieldSpec, value: str) -> str:
    group = {"gender": "gender", "source_channel": "source", "preferred_channel": "channel"}.get(spec.name)
    group = group or spec.extra.get("choice_keys")
    if group is None:
        return value
    key = f"{group}.{value}"
    text = tr(key)
    return value if text == key else text


def sample_rows(preview: Preview) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "name": c.display_name,
            "member_no": c.member_no,
            "phone": show(c.phone),
            "city": show(c.city),
            "tags": ", ".join(c.tags),
        }
        for c in preview.sample
    ]


class PreviewPanel:
    """Live count and masked sample of the completed rules; their problems go under their inputs."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self.builder: ConditionBuilder | None = None
        self.timer: ui.timer | None = None

    def build(self) -> None:
        with card(tr("segments.preview"), marker="segment-preview") as self.box:
            with ui.row().classes("items-baseline gap-2"):
                ui.label(tr("segments.count")).classes("text-slate-600")
                self.count = ui.label(EMPTY).classes("text-2xl font-semibold").mark("segment-count")
            self.hint = ui.label(tr("segments.count_hint")).classes("text-sm text-slate-500").mark("segment-hint")
            names = ("name", "member_no", "phone", "city", "tags")
            columns = [{"name": n, "label": tr(f"segments.col.{n}"), "field": n, "align": "left"} for n in names]
            self.table = ui.table(rows=[], columns=columns, row_key="id").props("flat dense bordered")
            self.table.classes("w-full").mark("segment-sample")
        self.refresh()

    def schedule(self) -> None:
        """Refresh shortly after the last edit (typing does not query on every key)."""
        if self.timer is not None:
            self.timer.cancel()
        with self.box:  # not the edited widget's slot: the builder may just have removed it
            self.timer = ui.timer(0.3, self.refresh, once=True)

    def refresh(self) -> None:
        self.timer = None
        pruned, paths, waiting = completed(self.definition)
        problems: list[FieldError] = []
        if self.builder is not None and self.builder.submitted:
            problems = [FieldError(f"{p}.value", "is required", "required") for p in waiting]
        if pruned is None:
            self._empty(problems)
            return
        result = perform(lambda s, p: segments.preview(s, p, pruned, sample=SAMPLE), write=False, notify=False)
        if result.value is None:
            self._empty(problems + [unpruned(e, paths) for e in _errors_of(result.error)])
            return
        self._show_problems(problems)
        self.hint.set_visibility(False)
        self.count.set_text(formatting.number(result.value.count, language()))
        self.table.rows = sample_rows(result.value)
        self.table.update()

    def _empty(self, problems: list[FieldError]) -> None:
        self.count.set_text(EMPTY)
        self.hint.set_visibility(not problems)
        self.table.rows = []
        self.table.update()
        self._show_problems(problems)

    def _show_problems(self, problems: list[FieldError]) -> None:
        if self.builder is not None:
            self.builder.show_errors(problems)


def _errors_of(error: DomainError | None) -> list[FieldError]:
    if isinstance(error, ValidationFailed) and error.errors:
        return list(error.errors)
    return [FieldError(ROOT, error.message if error else "", getattr(error, "code", "invalid"))]


def problem_text(error: FieldError) -> str:
    """A problem of the definition in the reader's words (the catalog phrases it by its code)."""
    return field_message(error.field, error.code, error.message, language(), key=f"segments.problem.{error.code}")


def event_choices() -> dict[str, str]:
    """Event types by code, labelled in the reader's language."""
    result = perform(lambda s, p: event_types.registry(s), write=False, notify=False)
    lang = language()
    specs = result.value or {}
    return {code: (spec.label_en if lang == "en" else spec.label_zh) for code, spec in sorted(specs.items())}


class DefinitionForm:
    """The builder and its preview, wired together, and the save's problems put under their inputs."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self.panel = PreviewPanel(definition)
        self.builder = ConditionBuilder(definition, self.panel.schedule, event_choices())
        self.panel.builder = self.builder

    def refused(self, error: DomainError | None, fields: dict[str, ui.element]) -> None:
        """A refused save: each problem under its input (the form's own fields or the builder's)."""
        if not isinstance(error, ValidationFailed) or not error.errors:
            if error is not None:
                notify_error(error)
            return
        self.builder.submitted = True
        for element in fields.values():
            set_field_error(element, None)
        in_definition = [e for e in error.errors if e.field.split(".")[0].split("[")[0] == ROOT]
        others = [e for e in error.errors if e not in in_definition]
        unplaced = apply_field_errors(fields, others)
        # The input model may refuse the form before the service reads the definition: rules still
        # waiting for a value say so in either case.
        named = {e.field for e in in_definition}
        _, _, waiting = completed(self.definition)
        missing = [FieldError(f"{p}.value", "is required", "required") for p in waiting if f"{p}.value" not in named]
        self.builder.show_errors(in_definition + missing)
        for text in unplaced:
            ui.notify(text, type="negative")
