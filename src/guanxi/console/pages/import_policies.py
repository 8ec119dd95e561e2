"""The mapping step's choices beyond the columns: what a bad value does (`on_invalid`), which side
wins where a customer row differs from the customer (`conflicts`), and what imported orders give
the members (the job's history choice). Each draws from and writes into the form's `MappingState`.
"""

from __future__ import annotations

from nicegui import events, ui

from guanxi.console.pages.import_state import MappingState
from guanxi.console.pages.import_values import DROPPED_BY_DEFAULT, field_label
from guanxi.console.session import tr
from guanxi.dataio.mappings import BAD_VALUE_CHOICES, CONFLICT_CHOICES
from guanxi.loyalty.members.history import CHOICES as HISTORY_CHOICES

INHERIT = ""  # a field's conflict choice: as for every field


def section(title: str, hint: str | None = None) -> None:
    ui.separator().classes("my-1")
    ui.label(title).classes("font-medium text-slate-700")
    if hint:
        ui.label(hint).classes("text-sm text-slate-500")


def _grid() -> ui.grid:
    return ui.grid(columns="minmax(10rem, max-content) minmax(14rem, 22rem)").classes("gap-x-4 gap-y-1 items-center")


def bad_values(state: MappingState) -> None:
    """Per field fed by a column: refuse the row or drop the value; the importer's default shown."""
    if state.kind not in DROPPED_BY_DEFAULT:
        return
    fed = state.fed()
    section(tr("import.map.bad_values"), tr(f"import.map.bad_values_hint.{state.kind}"))
    if not fed:
        return
    with _grid().mark("import-bad-values"):
        for name in fed:
            default = state.bad_value_default(name)
            choices = {c: tr(f"import.map.invalid.{c}") for c in BAD_VALUE_CHOICES}
            choices[default] = tr("import.map.default", choice=choices[default])

            def chosen(event: events.ValueChangeEventArguments, name: str = name) -> None:
                state.on_invalid[name] = str(event.value)

            ui.label(field_label(state.kind, name))
            ui.select(choices, value=state.bad_value_choice(name), on_change=chosen).props("dense outlined").mark(
                f"invalid-{name}"
            )


def conflicts(state: MappingState) -> None:
    """Customers: which side wins a differing value, for every field and per field."""
    if state.kind != "customers":
        return
    section(tr("import.map.conflicts"), tr("import.map.conflicts_hint"))
    with ui.column().classes("gap-0 text-sm text-slate-600"):
        for choice in ("hold", *CONFLICT_CHOICES):
            name, means = tr(f"import.map.conflict.{choice}"), tr(f"import.map.conflict_means.{choice}")
            ui.label(tr("import.map.meaning", name=name, means=means))
    named = {choice: tr(f"import.map.conflict.{choice}") for choice in CONFLICT_CHOICES}
    with _grid().mark("import-conflicts-form"):

        def for_all(event: events.ValueChangeEventArguments) -> None:
            state.conflicts["*"] = str(event.value or "")

        ui.label(tr("import.map.conflict_all")).classes("font-medium")
        ui.select({INHERIT: tr("import.map.conflict.hold"), **named}, value=state.conflicts.get("*", INHERIT)).props(
            "dense outlined"
        ).on_value_change(for_all).mark("conflict-all")
        for name in state.conflict_fields():

            def chosen(event: events.ValueChangeEventArguments, name: str = name) -> None:
                state.conflicts[name] = str(event.value or "")

            ui.label(field_label(state.kind, name))
            ui.select(
                {INHERIT: tr("import.map.conflict_as_all"), **named}, value=state.conflicts.get(name, INHERIT)
            ).props("dense outlined").on_value_change(chosen).mark(f"conflict-{name}")


def history(state: MappingState) -> None:
    """Orders: record only, growth and tiers, or points as well."""
    if state.kind != "orders":
        return
    section(tr("import.map.history"), tr("import.map.history_hint"))

    def chosen(event: events.ValueChangeEventArguments) -> None:
        state.history = str(event.value)

    with ui.column().classes("gap-0"):
        ui.radio(
            {
                c: tr("import.map.meaning", name=tr(f"import.history.{c}"), means=tr(f"import.history_means.{c}"))
                for c in HISTORY_CHOICES
            },
            value=state.history,
            on_change=chosen,
        ).mark("import-history")
