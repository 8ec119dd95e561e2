"""Segments in the console: the list, and a builder (AND/OR groups of rules) with a live count and
a masked sample that follow every edit; saved as dynamic or static.

The builder edits a plain definition (the same JSON the API takes) and asks the service for a
preview after each change, so what the page shows is what the API would answer; problems come back
with their path and are listed under the builder.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from nicegui import ui
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import perform
from guanxi.console.layout import frame
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import EMPTY, card, local_time, notice, page_title, pydantic_field_errors, show
from guanxi.customers import event_types
from guanxi.kit.errors import NotFound, ValidationFailed
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import Principal
from guanxi.marketing import conditions, segments
from guanxi.marketing.schemas import Preview, SegmentIn, SegmentOut, SegmentUpdate

SAMPLE = 20
LIST_OPS = conditions.LIST_OPS
NUMERIC = ("integer", "decimal")
SEGMENT_LINK = r"""
<q-td :props="props">
  <a :href="'/segments/' + props.row.id" class="text-primary font-medium no-underline" @click.stop>
    {{ props.value }}
  </a>
</q-td>
"""


def new_rule() -> dict[str, Any]:
    return {"field": "city", "op": "eq"}


def _label(spec: conditions.FieldSpec) -> str:
    return spec.label_zh if language() == "zh-CN" else spec.label_en


def _op_label(op: str) -> str:
    key = f"segments.op.{op}"
    text = tr(key)
    return op if text == key else text


def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _number(text: str) -> Any:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text  # the service names the problem
    return int(number) if number == number.to_integral_value() else text


def _value_from_text(spec: conditions.FieldSpec, op: str, text: str) -> Any:
    """What the user typed, in the JSON shape the definition takes (lists comma-separated)."""
    text = text.strip()
    if op in conditions.NO_VALUE_OPS:
        return None
    if op in LIST_OPS or op == "between":
        parts = [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]
        if spec.value_type in NUMERIC or spec.kind in ("age", "birthday_month"):
            return [_number(p) for p in parts]
        return parts
    if op == "within_last_days" or spec.value_type in NUMERIC or spec.kind in ("age", "birthday_month"):
        return _number(text) if text else None
    return text or None


class ConditionBuilder:
    """Edits a definition in place; calls `on_change` after every edit."""

    def __init__(self, definition: dict[str, Any], on_change: Callable[[], None], event_codes: list[str]) -> None:
        self.definition = definition
        self.on_change = on_change
        self.event_codes = event_codes
        self.container: ui.column | None = None

    def build(self) -> None:
        self.container = ui.column().classes("w-full gap-2").mark("builder")
        self.render()

    def render(self) -> None:
        assert self.container is not None
        self.container.clear()
        with self.container:
            self._group(self.definition, "g", None)

    def changed(self, *, structure: bool = False) -> None:
        if structure:
            self.render()
        self.on_change()

    def _group(self, group: dict[str, Any], path: str, parent: list[dict[str, Any]] | None) -> None:
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
                self._rule(rule, f"{path}.r{i}", group["rules"])
            for i, sub in enumerate(group["groups"]):
                self._group(sub, f"{path}.g{i}", group["groups"])

    def _add_rule(self, group: dict[str, Any]) -> None:
        group["rules"].append(new_rule())
        self.changed(structure=True)

    def _add_group(self, group: dict[str, Any]) -> None:
        group["groups"].append({"match": "any", "rules": [new_rule()], "groups": []})
        self.changed(structure=True)

    def _remove(self, items: list[dict[str, Any]], item: dict[str, Any]) -> None:
        items.remove(item)
        self.changed(structure=True)

    def _rule(self, rule: dict[str, Any], path: str, siblings: list[dict[str, Any]]) -> None:
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

            def set_op(e: Any) -> None:
                rule["op"] = e.value
                if e.value in conditions.NO_VALUE_OPS:
                    rule.pop("value", None)
                self.changed(structure=True)

            op_select.on_value_change(set_op)
            self._value(rule, spec, path)
            if spec.kind == "event":
                count = ui.number(tr("segments.min_count"), value=rule.get("min_count", 1), min=1, format="%d")
                count.props("dense outlined").classes("w-28").mark(f"min-count-{path}")

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

    def _value(self, rule: dict[str, Any], spec: conditions.FieldSpec, path: str) -> None:
        op = rule.get("op", "")
        if op in conditions.NO_VALUE_OPS:
            return
        if spec.kind == "event":
            widget: Any = ui.select(self.event_codes, value=rule.get("value"), label=tr("segments.event_type"))
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
            widget = ui.input(tr("segments.value"), value=_text_of(rule.get("value")), placeholder=hint)
            widget.props("dense outlined").classes("min-w-40")

            def set_text(e: Any) -> None:
                value = _value_from_text(spec, rule.get("op", ""), str(e.value or ""))
                if value is None:
                    rule.pop("value", None)
                else:
                    rule["value"] = value
                self.changed()

            widget.on_value_change(set_text)
        widget.mark(f"value-{path}")


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: dict[str, Any]) -> M:
    """The form's values as the API's input model; its problems as a ValidationFailed (a notice)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = pydantic_field_errors(exc)
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors) from None


def _choice_label(spec: conditions.FieldSpec, value: str) -> str:
    group = {"gender": "gender", "source_channel": "source", "preferred_channel": "channel"}.get(spec.name)
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
    """Live count, masked sample and the definition's problems."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self.timer: ui.timer | None = None

    def build(self) -> None:
        with card(tr("segments.preview"), marker="segment-preview") as self.box:
            with ui.row().classes("items-baseline gap-2"):
                ui.label(tr("segments.count")).classes("text-slate-600")
                self.count = ui.label(EMPTY).classes("text-2xl font-semibold").mark("segment-count")
            self.errors = ui.column().classes("gap-1").mark("segment-errors")
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
        definition = copy.deepcopy(self.definition)
        result = perform(lambda s, p: segments.preview(s, p, definition, sample=SAMPLE), write=False, notify=False)
        self.errors.clear()
        if result.value is None:
            self.count.set_text(EMPTY)
            self.table.rows = []
            self.table.update()
            error = result.error
            with self.errors:
                if isinstance(error, ValidationFailed) and error.errors:
                    for item in error.errors:
                        ui.label(f"{item.field}: {item.message}").classes("text-sm text-red-700")
                elif error is not None:
                    ui.label(error.message).classes("text-sm text-red-700")
            return
        self.count.set_text(f"{result.value.count:,}")
        self.table.rows = sample_rows(result.value)
        self.table.update()


def event_codes() -> list[str]:
    result = perform(lambda s, p: sorted(event_types.registry(s)), write=False, notify=False)
    return result.value or []


def editor(principal: Principal, segment: SegmentOut | None) -> None:
    definition: dict[str, Any] = (
        copy.deepcopy(segment.conditions) if segment else {"match": "all", "rules": [new_rule()], "groups": []}
    )
    panel = PreviewPanel(definition)
    with ui.row().classes("w-full gap-4 items-start no-wrap"):
        with ui.column().classes("flex-1 gap-3"), card(tr("segments.definition"), marker="segment-form"):
            with ui.row().classes("w-full gap-2 items-center"):
                name = ui.input(tr("segments.name"), value=segment.name if segment else "").props("outlined dense")
                name.classes("flex-1").mark("segment-name")
                kind = ui.toggle(
                    {"dynamic": tr("segments.kind.dynamic"), "static": tr("segments.kind.static")},
                    value=segment.kind if segment else "dynamic",
                ).props("dense no-caps")
                kind.mark("segment-kind")
                if segment is not None:
                    kind.disable()
            description = ui.input(
                tr("segments.description"), value=(segment.description or "") if segment else ""
            ).props("outlined dense")
            description.classes("w-full").mark("segment-description")
            ConditionBuilder(definition, panel.schedule, event_codes()).build()
            with ui.row().classes("gap-2"):
                if is_allowed(principal, "segments", "update" if segment else "create"):
                    ui.button(
                        tr("segments.save"),
                        icon="save",
                        on_click=lambda: _save(segment, name.value, description.value, kind.value, definition),
                    ).props("unelevated no-caps").mark("segment-save")
                if segment is not None and is_allowed(principal, "segments", "create"):
                    ui.button(
                        tr("segments.snapshot"), icon="photo_camera", on_click=lambda: _snapshot(segment.id)
                    ).props("outline no-caps").mark("segment-snapshot")
                if segment is not None and is_allowed(principal, "segments", "delete"):
                    ui.button(tr("segments.delete"), icon="delete", on_click=lambda: _delete(segment.id)).props(
                        "flat no-caps color=negative"
                    ).mark("segment-delete")
            if segment is not None and segment.kind == "static":
                ui.label(
                    tr("segments.snapshot_info", at=local_time(segment.snapshot_at), n=segment.snapshot_count or 0)
                ).classes("text-sm text-slate-600").mark("segment-snapshot-info")
        with ui.column().classes("w-[30rem] max-w-full gap-3"):
            panel.build()


def _save(segment: SegmentOut | None, name: str, description: str, kind: str, definition: dict[str, Any]) -> None:
    conditions_now = copy.deepcopy(definition)
    if segment is None:
        data = {"name": name or "", "description": description or None, "kind": kind, "conditions": conditions_now}
        result = perform(lambda s, p: segments.create_segment(s, p, validated(SegmentIn, data)).id)
    else:
        seg_id = segment.id
        patch = {"name": name or None, "description": description, "conditions": conditions_now}
        result = perform(lambda s, p: segments.update_segment(s, p, seg_id, validated(SegmentUpdate, patch)).id)
    if result.value is not None:
        ui.notify(tr("segments.saved"), type="positive")
        ui.navigate.to(f"/segments/{result.value}")


def _snapshot(segment_id: str) -> None:
    result = perform(lambda s, p: segments.snapshot(s, p, segment_id).id)
    if result.value is not None:
        ui.notify(tr("segments.snapshot_taken"), type="positive")
        ui.navigate.to(f"/segments/{result.value}")


def _delete(segment_id: str) -> None:
    result = perform(lambda s, p: segments.delete_segment(s, p, segment_id))
    if result.ok:
        ui.navigate.to("/segments")


def _list(session: Session, principal: Principal) -> list[SegmentOut]:
    return segments.list_segments(session, principal, PageRequest(limit=200, sort="name", descending=False)).items


def segments_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/segments"):
        with ui.row().classes("w-full items-center"):
            page_title(tr("segments.title"))
            ui.space()
            if is_allowed(principal, "segments", "create"):
                ui.button(tr("segments.new"), icon="add", on_click=lambda: ui.navigate.to("/segments/new")).props(
                    "unelevated no-caps"
                ).mark("segment-new")
        result = perform(_list, principal=principal, write=False)
        if result.value is None:
            return None
        names = ("name", "kind", "description", "snapshot_count", "updated_at")
        columns = [{"name": n, "label": tr(f"segments.col.{n}"), "field": n, "align": "left"} for n in names]
        rows = [
            {
                "id": s.id,
                "name": s.name,
                "kind": tr(f"segments.kind.{s.kind}"),
                "description": show(s.description),
                "snapshot_count": show(s.snapshot_count),
                "updated_at": local_time(s.updated_at),
            }
            for s in result.value
        ]
        table = ui.table(rows=rows, columns=columns, row_key="id").props("flat bordered dense")
        table.classes("w-full gx-table").mark("segment-table")
        table.add_slot("body-cell-name", SEGMENT_LINK)
        if not rows:
            ui.label(tr("segments.empty")).classes("text-sm text-slate-500")
    return None


def new_segment_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/segments"):
        page_title(tr("segments.new"))
        editor(principal, None)
    return None


def segment_page(request: Request, segment_id: str) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, "/segments"):
        result = perform(
            lambda s, p: segments.segment_out(segments.get_segment(s, p, segment_id)), principal=principal, write=False
        )
        if result.value is None:
            notice(tr("error.not_found") if isinstance(result.error, NotFound) else tr("segments.unavailable"))
            ui.link(tr("segments.back"), "/segments")
            return None
        with ui.row().classes("w-full items-center gap-3"):
            ui.button(icon="arrow_back", on_click=lambda: ui.navigate.to("/segments")).props("flat round dense")
            page_title(result.value.name)
        editor(principal, result.value)
    return None
