"""Saved mappings in the import page's mapping step: load one of the kind into the form, save the
form under a name (the name of the mapping loaded saves over it; a new name makes a new one).

A saved mapping loads as far as its shape allows (`mappings.parse_mapping`): a value or constant its
field refuses is shown in the form and refused when the mapping is checked, so it can be put right
there. What it names that the file lacks is said once, after loading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

from guanxi.console.actions import notify_error, perform
from guanxi.console.session import language, tr
from guanxi.console.widgets import notice
from guanxi.dataio import mappings, service
from guanxi.dataio.mappings import Mapping, MappingError
from guanxi.kit.errors import Conflict
from guanxi.kit.principal import Principal


class SavedMappings:
    def __init__(
        self,
        kind: str,
        load: Callable[[Mapping], list[str]],
        redraw: Callable[[], None],
        checked: Callable[[], Mapping | None],
    ) -> None:
        """`load` puts a mapping into the form's state (returning what the file lacks of it),
        `redraw` draws the form again, `checked` is the form's mapping, validated."""
        self.kind = kind
        self.load = load
        self.redraw = redraw
        self.checked = checked
        self.loaded: tuple[str, str] | None = None  # (id, name) of the mapping in the form
        self.lacking: list[str] = []

    def _saved(self) -> dict[str, str]:
        result = perform(lambda s, p: service.list_mappings(s, p, self.kind), write=False, notify=False)
        return {m.id: m.name for m in result.value or []}

    def build(self) -> None:
        """The row that loads a saved mapping, and what the last one loaded lacked."""
        self.box = ui.column().classes("w-full gap-1")
        self._draw()

    def _draw(self) -> None:
        self.box.clear()
        saved = self._saved()
        with self.box, ui.row().classes("items-center gap-2"):
            if saved:
                self.choice = (
                    ui.select(saved, label=tr("import.map.saved"), value=self.loaded[0] if self.loaded else None)
                    .props("dense outlined")
                    .classes("w-64")
                    .mark("mapping-saved")
                )
                ui.button(tr("import.map.load"), icon="file_open", on_click=self._load).props(
                    "outline dense no-caps"
                ).mark("mapping-load")
            else:
                ui.label(tr("import.map.no_saved", kind=tr(f"import.kind.{self.kind}"))).classes(
                    "text-sm text-slate-500"
                )
        with self.box:
            if self.loaded:
                ui.label(tr("import.map.loaded", name=self.loaded[1])).classes("text-sm").mark("mapping-loaded")
            if self.lacking:
                notice(tr("import.map.lacking", parts=tr("import.problem_separator").join(self.lacking))).mark(
                    "mapping-lacking"
                )

    def build_save(self) -> None:
        """The row that saves the form as a named mapping."""
        with ui.row().classes("items-center gap-2"):
            self.name = (
                ui.input(tr("import.map.name"), value=self.loaded[1] if self.loaded else "")
                .props("dense outlined")
                .classes("w-64")
                .mark("mapping-name")
            )
            ui.button(tr("import.map.save"), icon="save", on_click=self._save).props("outline dense no-caps").mark(
                "mapping-save"
            )

    def _load(self) -> None:
        chosen = self.choice.value
        if not chosen:
            return
        result = perform(lambda s, p: service.get_mapping(s, p, str(chosen)), write=False)
        row = result.value
        if row is None:
            return
        try:
            mapping = mappings.parse_mapping(row.mapping, self.kind)
        except MappingError as exc:
            # the parser says what is wrong in English (with the mapping's own keys); else its kind of problem
            reason = str(exc) if language() == "en" else tr("problem.invalid_mapping.title")
            ui.notify(tr("import.map.unusable", name=row.name, reason=reason), type="negative", multi_line=True)
            return
        self.loaded = (row.id, row.name)
        self.lacking = self.load(mapping)
        self.redraw()
        ui.notify(tr("import.map.loaded", name=row.name))

    def _save(self) -> None:
        name = str(self.name.value or "").strip()
        if not name:
            ui.notify(tr("import.map.name_needed"), type="warning")
            return
        mapping = self.checked()
        if mapping is None:
            return
        loaded = self.loaded

        def save(session: Any, principal: Principal) -> tuple[str, str]:
            if loaded is not None and loaded[1] == name:
                row = service.update_mapping(session, principal, loaded[0], name=name, mapping=mapping)
            else:
                row = service.save_mapping(session, principal, name=name, mapping=mapping)
            return row.id, row.name

        result = perform(save, notify=False)
        if result.value is not None:
            self.loaded = result.value
            self.lacking = []
            self._draw()
            ui.notify(tr("import.map.saved_as", name=name), type="positive")
        elif isinstance(result.error, Conflict):
            ui.notify(tr("import.map.name_taken", name=name), type="negative")
        elif result.error is not None:
            notify_error(result.error)
