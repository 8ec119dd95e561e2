"""The import page's mapping step: everything a mapping can say, without anyone typing JSON.

Columns (each with its field, or clearly ignored), value maps for fields with a fixed set of
values (the distinct cells of the file's first rows, each with what it becomes), constants, an
order number built from other columns, date formats, then what bad values do, who wins a
conflict and the history choice (`import_policies`). A saved mapping loads into the form, and the
form saves as one. `checked()` is the mapping, validated as the API and the CLI validate it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from nicegui import events, ui

from guanxi.console.actions import error_text, notify_error
from guanxi.console.pages import import_policies
from guanxi.console.pages.import_policies import section
from guanxi.console.pages.import_saved import SavedMappings
from guanxi.console.pages.import_state import Constant, MappingState
from guanxi.console.pages.import_values import (
    DATE_FORMATS,
    EMPTY,
    FIXED,
    KEEP,
    SAMPLE_ROWS,
    constant_options,
    constant_problem,
    constant_problems,
    field_label,
    missing_texts,
    value_options,
)
from guanxi.console.session import language, tr
from guanxi.console.widgets import notice, set_field_error
from guanxi.dataio import mappings, service
from guanxi.dataio import values as cells
from guanxi.dataio.headers import FIELDS
from guanxi.dataio.importers import derived_value, zone
from guanxi.dataio.mappings import LINE_TOKEN, Mapping
from guanxi.kit.errors import DomainError
from guanxi.loyalty.members.history import HistoryRefused

IGNORE = "-"
_SPACE = re.compile(r"\s+")


def marker_of(text: str) -> str:
    """A column or cell as part of a test marker (markers are split at spaces)."""
    return _SPACE.sub("_", text.strip())


class MappingForm:
    def __init__(self, state: MappingState, file_name: str) -> None:
        self.state = state
        self.file_name = file_name
        self.box = ui.column().classes("w-full gap-3")
        self.saved = SavedMappings(state.kind, state.load, self.draw, self.checked)
        self.draw()

    @property
    def kind(self) -> str:
        return self.state.kind

    def draw(self) -> None:
        self.box.clear()
        with self.box:
            self.saved.build()
            self._columns()
            self.ignored = ui.column().classes("w-full gap-1")
            self.values_box = ui.column().classes("w-full gap-2")
            self.constants_box = ui.column().classes("w-full gap-2")
            self.derive_box = ui.column().classes("w-full gap-2")
            self.dates_box = ui.column().classes("w-full gap-2")
            self.policies_box = ui.column().classes("w-full gap-2")
            import_policies.history(self.state)
            section(tr("import.map.save_title"))
            ui.checkbox(tr("import.map.recognise"), value=self.state.recognise).on_value_change(
                lambda e: setattr(self.state, "recognise", bool(e.value))
            ).mark("mapping-recognise")
            self.saved.build_save()
            # under the form, next to the buttons that check it
            self.problems = ui.column().classes("w-full gap-1").mark("import-mapping-problems")
            self.problems.set_visibility(False)
        self._fields_changed()
        self._constants()

    # Columns -----------------------------------------------------------------------------------

    def _columns(self) -> None:
        options = {IGNORE: tr("import.ignore"), **{f: field_label(self.kind, f) for f in FIELDS[self.kind]}}
        ui.label(tr("import.mapping_hint", file=self.file_name)).classes("text-sm text-slate-500")
        self.states: dict[str, ui.label] = {}
        grid = "minmax(8rem, max-content) minmax(8rem, 16rem) minmax(16rem, 24rem) max-content"
        with ui.grid(columns=grid).classes("w-full gap-x-4 gap-y-1 items-center"):
            for head in ("import.mapping.column", "import.map.examples", "import.mapping.field"):
                ui.label(tr(head)).classes("text-xs text-slate-500")
            ui.label("")
            for column in self.state.columns:
                value = self.state.fields.get(column) or IGNORE
                if value not in options:  # an event property column
                    options = {**options, value: value}
                ui.label(column).classes("font-medium break-all")
                examples = ", ".join(self.state.sample.examples(column)) or "—"
                ui.label(examples).classes("text-sm text-slate-500 truncate").tooltip(examples)

                def chosen(event: events.ValueChangeEventArguments, column: str = column) -> None:
                    self.state.fields[column] = None if event.value in (None, IGNORE) else str(event.value)
                    self._fields_changed()

                ui.select(options, value=value, on_change=chosen).props("dense outlined").mark(
                    f"map-{marker_of(column)}"
                )
                self.states[column] = ui.label("").mark(f"state-{marker_of(column)}")

    def _fields_changed(self) -> None:
        doubled = {c for columns in self.state.doubled().values() for c in columns}
        for column, label in self.states.items():
            if self.state.fields.get(column) is None:
                label.set_text(tr("import.map.ignored"))
                label.classes(replace="text-xs rounded px-2 py-0.5 bg-slate-200 text-slate-600")
            elif column in doubled:
                label.set_text(tr("import.map.doubled_state"))
                label.classes(replace="text-xs rounded px-2 py-0.5 bg-red-50 text-red-800")
            else:
                label.set_text("")
        self.ignored.clear()
        with self.ignored:
            self._summary()
        for box, draw in (
            (self.values_box, self._values),
            (self.derive_box, self._derive),
            (self.dates_box, self._dates),
            (self.policies_box, self._policies),
        ):
            box.clear()
            with box:
                draw()
            box.set_visibility(bool(box.default_slot.children))  # an empty section takes no room

    def _summary(self) -> None:
        ignored = [c for c in self.state.columns if self.state.fields.get(c) is None]
        text = (
            tr("import.mapping.ignored_list", columns=", ".join(ignored)) if ignored else tr("import.map.none_ignored")
        )
        ui.label(text).classes("text-sm").mark("import-ignored")
        for text in missing_texts(self.kind, mappings.resolve(self.state.columns, self.kind, self._shape())):
            notice(text).mark("import-missing")

    def _shape(self) -> Mapping:
        """What feeds which field as the form stands (unchecked), for the missing-fields line."""
        data = self.state.data()
        return Mapping(
            kind=self.kind, columns=data["columns"], constants=data["constants"], derive=data.get("derive", {})
        )

    # Value maps --------------------------------------------------------------------------------

    def _values(self) -> None:
        fixed = self.state.fixed_columns()
        if not fixed:
            return
        shown = min(self.state.sample.rows, SAMPLE_ROWS)
        section(tr("import.map.values"), tr("import.map.values_hint", rows=shown))
        for column, name in fixed:
            cells_seen = self.state.sample.distinct(column)
            with ui.column().classes("gap-1 w-full").mark(f"values-{marker_of(column)}"):
                ui.label(f"{column} → {field_label(self.kind, name)}").classes("text-sm font-medium")
                if not cells_seen:
                    ui.label(tr("import.map.no_values")).classes("text-sm text-slate-500")
                    continue
                if column in self.state.sample.more:
                    ui.label(tr("import.map.more_values", count=len(cells_seen))).classes("text-sm text-slate-500")
                with ui.grid(columns="1.5rem minmax(8rem, max-content) max-content minmax(12rem, 18rem)").classes(
                    "gap-x-3 gap-y-1 items-center"
                ):
                    for cell in cells_seen:
                        self._value_row(column, name, cell)

    def _value_row(self, column: str, name: str, cell: str) -> None:
        chosen = self.state.choice(column, cell)
        extra = () if chosen in (KEEP, EMPTY) else (chosen,)
        icon = ui.icon("")
        text = ui.label(cell).classes("break-all")
        ui.label(tr("import.map.rows", count=self.state.sample.counts[column][cell])).classes("text-xs text-slate-500")

        def flag() -> None:
            open_ = self.state.choice(column, cell) == KEEP and not self.state.recognised(column, cell)
            icon.name = "error_outline" if open_ else "check"
            icon.classes(replace="text-amber-600" if open_ else "text-green-600")
            text.classes(replace="break-all " + ("text-amber-800 font-medium" if open_ else ""))
            if open_:
                text.mark(f"unrecognised-{marker_of(column)}-{marker_of(cell)}", "value-unrecognised")
            else:
                text.mark()

        def picked(event: events.ValueChangeEventArguments) -> None:
            self.state.choices.setdefault(column, {})[cell] = str(event.value)
            flag()

        select = ui.select(value_options(name, *extra), value=chosen, on_change=picked, with_input=name == "currency")
        select.props("dense outlined options-dense").mark(f"value-{marker_of(column)}-{marker_of(cell)}")
        flag()

    # Constants ---------------------------------------------------------------------------------

    def _constants(self) -> None:
        self.constants_box.clear()
        with self.constants_box:
            section(tr("import.map.constants"), tr("import.map.constants_hint"))
            with ui.column().classes("gap-1").mark("import-constants"):
                for index, constant in enumerate(self.state.constants):
                    self._constant_row(index, constant)
            ui.button(tr("import.map.add_constant"), icon="add", on_click=self._add_constant).props(
                "flat dense no-caps"
            ).mark("constant-add")

    def _constant_row(self, index: int, constant: Constant) -> None:
        taken = {c.field for c in self.state.constants if c is not constant}
        choices = {f: field_label(self.kind, f) for f in FIELDS[self.kind] if f not in taken}

        def field_chosen(event: events.ValueChangeEventArguments) -> None:
            constant.field, constant.value = str(event.value or ""), ""
            self._constants()
            self._fields_changed()

        def value_given(event: events.ValueChangeEventArguments) -> None:
            constant.value = str(event.value or "")

        def remove() -> None:
            self.state.constants.remove(constant)
            self._constants()
            self._fields_changed()

        with ui.row().classes("items-center gap-2 no-wrap"):
            ui.select(
                choices, value=constant.field or None, label=tr("import.mapping.field"), on_change=field_chosen
            ).props("dense outlined").classes("w-56").mark(f"constant-field-{index}")
            value: ui.select | ui.input
            if constant.field in FIXED:
                value = ui.select(
                    constant_options(constant.field, constant.value),
                    value=constant.value or None,
                    with_input=constant.field == "currency",
                    on_change=value_given,
                )
            else:
                value = ui.input(value=constant.value, on_change=value_given)
            value.props("dense outlined").classes("w-64").mark(f"constant-value-{index}")
            refused = constant_problem(constant.field, constant.value) if constant.field and constant.value else None
            if refused:  # a saved mapping's constant the field does not take
                set_field_error(value, refused)
            value.props(f'label="{tr("import.map.constant_value")}"')
            ui.button(icon="close", on_click=remove).props("flat dense round").tooltip(tr("import.map.remove")).mark(
                f"constant-remove-{index}"
            )

    def _add_constant(self) -> None:
        self.state.constants.append(Constant())
        self._constants()

    # A derived order number --------------------------------------------------------------------

    def _derive(self) -> None:
        for name in self.state.derivable():
            self._derive_field(name)

    def _derive_field(self, name: str) -> None:
        section(tr("import.map.derive", field=field_label(self.kind, name)), tr(f"import.map.derive_hint.{self.kind}"))
        parts = self.state.derive.get(name, [])
        with ui.row().classes("items-center gap-4"):
            picker = ui.select(
                self.state.columns,
                value=[p for p in parts if p != LINE_TOKEN],
                multiple=True,
                label=tr("import.map.derive_columns"),
            )
            picker.props("dense outlined use-chips").classes("min-w-72").mark(f"derive-{name}")
            line_box = ui.checkbox(tr("import.map.derive_line"), value=LINE_TOKEN in parts).mark(f"derive-{name}-line")
        example = ui.label("").classes("text-sm text-slate-600").mark(f"derive-{name}-example")

        def show_example() -> None:
            given = self.state.derive.get(name, [])
            if any(p != LINE_TOKEN for p in given):
                value = derived_value(dict(self.state.sample.first), given, self.state.sample.first_line)
                example.set_text(tr("import.map.derive_example", value=value))
            else:
                example.set_text(tr("import.map.derive_none"))

        def changed() -> None:
            chosen = [str(c) for c in (picker.value or [])]
            self.state.derive[name] = chosen + ([LINE_TOKEN] if line_box.value else [])
            show_example()
            self._refresh_summary()

        picker.on_value_change(changed)
        line_box.on_value_change(changed)
        show_example()

    def _refresh_summary(self) -> None:
        self.ignored.clear()
        with self.ignored:
            self._summary()

    # Date formats ------------------------------------------------------------------------------

    def _dates(self) -> None:
        names = self.state.date_fields()
        if not names:
            return
        section(tr("import.map.dates"), tr("import.map.dates_hint"))
        with ui.grid(columns="minmax(10rem, max-content) minmax(14rem, 20rem) 1fr").classes(
            "gap-x-4 gap-y-1 items-center"
        ):
            for name in names:
                self._date_row(name)

    def _date_row(self, name: str) -> None:
        column = self.state.column_of(name) or ""
        current = self.state.date_formats.get(name, "")
        shown = datetime(2024, 3, 5, 14, 30)
        choices = {"": tr("import.map.date_auto")}
        # Each format by what it makes of 5 March 2024, 14:30 (the day is not the month, so each reads apart).
        choices.update({f: shown.strftime(f) for f in (*DATE_FORMATS, current) if f})

        def read() -> None:
            first = self.state.sample.first.get(column, "")
            value = _read_date(name, first, self.state.date_formats.get(name))
            reading.set_text(tr("import.map.date_reads", cell=first, value=value) if first else "")

        def chosen(event: events.ValueChangeEventArguments) -> None:
            self.state.date_formats[name] = str(event.value or "")
            read()

        ui.label(field_label(self.kind, name))
        ui.select(choices, value=current, on_change=chosen).props("dense outlined").mark(f"date-{name}")
        reading = ui.label("").classes("text-sm text-slate-500")
        read()

    # Bad values and conflicts ------------------------------------------------------------------

    def _policies(self) -> None:
        import_policies.bad_values(self.state)
        import_policies.conflicts(self.state)

    # The mapping, checked ----------------------------------------------------------------------

    def checked(self) -> Mapping | None:
        """The form's mapping, validated as the API validates one (value maps included) and its
        constants against their fields; what is wrong is shown under the form, nothing raised."""
        problems = [
            tr("import.map.doubled", field=field_label(self.kind, name), columns=", ".join(columns))
            for name, columns in self.state.doubled().items()
        ]
        if problems:
            self._show_problems(tr("import.map.refused"), problems)
            return None
        mapping: Mapping | None = None
        try:
            # the constants first, in the reader's words; then the service's own checks
            shaped = mappings.parse_mapping(self.state.data(), self.kind)
            problems = [
                tr("import.map.bad_constant", field=field_label(self.kind, name), value=value, reason=why)
                for name, value, why in constant_problems(shaped)
            ]
            if not problems:
                mapping = service.parse_mapping(self.state.data(), self.kind)
        except mappings.MappingError as exc:  # its sentence is English, with the mapping's own keys
            problems = [str(exc) if language() == "en" else tr("problem.invalid_mapping.title")]
        except service.InvalidMapping as exc:
            problems = [e.text(language()) for e in exc.errors] or [error_text(exc)]
        self._show_problems(tr("import.map.refused"), problems)
        return None if problems else mapping

    def refused(self, error: DomainError) -> None:
        """A job the service would not create (the file as mapped, the history choice), said
        where the mapping is; errors that are not about the mapping go to a notification."""
        if isinstance(error, service.MissingColumns):
            resolved = mappings.resolve(self.state.columns, self.kind, self._shape())
            self._show_problems(tr("import.job_refused"), missing_texts(self.kind, resolved) or [error_text(error)])
        elif isinstance(error, service.ImportRefused | HistoryRefused):
            problems = [e.text(language()) for e in error.errors] or [error_text(error)]
            self._show_problems(tr("import.job_refused"), problems)
        else:
            notify_error(error)

    def _show_problems(self, title: str, problems: list[str]) -> None:
        self.problems.clear()
        self.problems.set_visibility(bool(problems))
        if not problems:
            return
        with self.problems, ui.column().classes("w-full gap-1 rounded px-4 py-3 bg-red-50 text-red-800"):
            ui.label(title).classes("font-medium").mark("import-mapping-refused")
            for text in problems:
                ui.label(text).classes("text-sm").mark("import-mapping-problem")
        ui.notify("\n".join([title, *problems]), type="negative", multi_line=True)

    def options(self) -> dict[str, Any]:
        return self.state.options()


def _read_date(name: str, cell: str, fmt: str | None) -> str:
    try:
        if name == "occurred_at":
            return cells.parse_datetime(cell, zone(), fmt or None).strftime("%Y-%m-%d %H:%M")
        return cells.parse_date(cell, fmt or None).isoformat()
    except cells.BadValue:
        return tr("import.map.date_unread")
