"""Targets page: the brand's KPI goals with their progress, and a form for who may set them
(analytics:update). The same service as the API (`analytics.targets`): same checks and audit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import Response

from guanxi.analytics import targets
from guanxi.analytics.models import Target
from guanxi.auth.permissions import is_allowed
from guanxi.console.actions import notify_error, perform
from guanxi.console.layout import frame
from guanxi.console.session import guard, language, tr
from guanxi.console.widgets import date_input, page_title, set_field_error
from guanxi.kit import formatting
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal

PATH = "/analytics/targets"
MONEY = frozenset({"clv_average", "aov"})


def shown(metric: str, value: Decimal | None, lang: str) -> str:
    """A metric's value as people read it: rates as percentages, spend as money."""
    if value is None:
        return tr("analytics.targets.none")
    if metric in targets.RATES:
        return formatting.percent(value, lang, decimals=1)
    if metric in MONEY:
        return formatting.money(value, "CNY", lang)
    return formatting.number(value, lang)


def goal_text(target: Target, goal: Decimal | None, lang: str) -> str:
    text = shown(target.metric, goal, lang)
    if target.kind == "change":
        change = formatting.percent(Decimal(target.value) / 100, lang, decimals=1)
        return f"{text} ({change})"
    return text


def target_rows(found: list[tuple[Target, targets.Progress]], lang: str) -> list[dict[str, Any]]:
    return [
        {
            "id": t.id,
            "metric": tr(f"analytics.target.metric.{t.metric}"),
            "kind": tr(f"analytics.target.kind.{t.kind}"),
            "goal": goal_text(t, p.goal, lang),
            "baseline": shown(t.metric, None if t.baseline is None else Decimal(t.baseline), lang),
            "current": shown(t.metric, p.current, lang),
            "expected": shown(t.metric, p.expected, lang),
            "deadline": formatting.day(t.deadline, lang),
            "status": tr(f"analytics.target.status.{p.status}"),
        }
        for t, p in found
    ]


COLUMNS = ("metric", "kind", "goal", "baseline", "current", "expected", "deadline", "status")


def analytics_targets_page(request: Request) -> Response | None:
    principal = guard(request)
    if isinstance(principal, Response):
        return principal
    with frame(principal, PATH):
        page_title(tr("analytics.targets.title"))
        ui.label(tr("analytics.targets.explain")).classes("text-sm text-slate-600")
        lang = language()
        result = perform(
            lambda s, p: target_rows(targets.with_progress(s, targets.list_targets(s, p)), lang),
            principal=principal,
            write=False,
        )
        if result.value is None:
            return None
        editable = is_allowed(principal, "analytics", "update")
        columns = [{"name": n, "label": tr(f"analytics.targets.col.{n}"), "field": n, "align": "left"} for n in COLUMNS]
        if editable:
            columns.append({"name": "actions", "label": "", "field": "id", "align": "right"})
        table = ui.table(rows=result.value, columns=columns, row_key="id")
        table.props("flat bordered dense").classes("w-full gx-table").mark("target-table")
        if not result.value:
            ui.label(tr("analytics.targets.empty")).classes("text-sm text-slate-500").mark("target-empty")
        if editable:
            table.add_slot(
                "body-cell-actions",
                '<q-td :props="props"><q-btn flat dense no-caps icon="delete" :aria-label="props.row.label" '
                "@click=\"() => $parent.$emit('remove', props.row)\" /></q-td>",
            )
            for row in table.rows:
                row["label"] = tr("analytics.targets.delete")
            table.on("remove", lambda e: _ask_delete(str(e.args["id"])))
            _form(principal)
    return None


def _form(principal: Principal) -> None:
    with ui.card().classes("w-full max-w-2xl gap-2").mark("target-form"):
        ui.label(tr("analytics.targets.new")).classes("text-lg font-medium")
        metrics = {m: tr(f"analytics.target.metric.{m}") for m in targets.METRICS}
        kinds = {k: tr(f"analytics.target.kind.{k}") for k in targets.KINDS}
        fields: dict[str, Any] = {
            "metric": ui.select(metrics, label=tr("analytics.targets.col.metric"), value="repeat_rate").mark(
                "target-metric"
            ),
            "kind": ui.select(kinds, label=tr("analytics.targets.col.kind"), value="at_least").mark("target-kind"),
            "value": ui.input(tr("analytics.targets.field.value")).mark("target-value"),
            "deadline": date_input(tr("analytics.targets.col.deadline")).mark("target-deadline"),
            "note": ui.input(tr("analytics.targets.field.note")).props("maxlength=200").mark("target-note"),
        }
        ui.label(tr("analytics.targets.value_hint")).classes("text-xs text-slate-500")
        for element in fields.values():
            element.classes("w-full")

        def save() -> None:
            errors: list[FieldError] = []
            try:
                value = Decimal(str(fields["value"].value).strip())
            except InvalidOperation:
                errors.append(
                    FieldError("value", "enter a number", "invalid_number", key="analytics.targets.invalid_value")
                )
                value = Decimal(0)
            try:
                deadline = date.fromisoformat(str(fields["deadline"].value))
            except ValueError:
                errors.append(
                    FieldError("deadline", "enter a date", "invalid_date", key="analytics.targets.invalid_deadline")
                )
                deadline = date.min
            if errors:
                _place(fields, errors)
                return
            result = perform(
                lambda s, p: (
                    targets.create_target(
                        s,
                        p,
                        metric=str(fields["metric"].value),
                        kind=str(fields["kind"].value),
                        value=value,
                        deadline=deadline,
                        note=str(fields["note"].value or "").strip(),
                    ).id
                ),
                notify=False,
            )
            if result.error is not None:
                if not _place(fields, result.error.errors):
                    notify_error(result.error)
                return
            ui.notify(tr("analytics.targets.saved"), type="positive")
            ui.navigate.to(PATH)

        ui.button(tr("analytics.targets.save"), on_click=save).props("unelevated no-caps").mark("target-save")


def _place(fields: dict[str, Any], errors: list[FieldError]) -> bool:
    """Each error under its input, in the reader's language; whether every one found its input."""
    for element in fields.values():
        set_field_error(element, None)
    placed = True
    for error in errors:
        element = fields.get(error.field.split(".")[0])
        if element is None:
            placed = False
        else:
            set_field_error(element, error.text(language()))
    return placed and bool(errors)


def _ask_delete(target_id: str) -> None:
    with ui.dialog() as dialog, ui.card().classes("gap-3").mark("target-delete-dialog"):
        ui.label(tr("analytics.targets.confirm_delete"))
        with ui.row().classes("w-full justify-end"):
            ui.button(tr("analytics.targets.cancel"), on_click=dialog.close).props("flat no-caps")

            def confirmed() -> None:
                dialog.close()
                if perform(lambda s, p: targets.delete_target(s, p, target_id)).ok:
                    ui.notify(tr("analytics.targets.deleted"), type="positive")
                    ui.navigate.to(PATH)

            ui.button(tr("analytics.targets.delete"), on_click=confirmed).props(
                "unelevated no-caps color=negative"
            ).mark("target-delete-confirm")
    dialog.open()
