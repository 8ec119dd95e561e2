"""The column legend of the import page: every field a kind of file may hold, by its display name,
with what it means, and whether a file must have it (required, or one of the fields that name the
customer). Names and descriptions come from the catalogs (`import.field.*`, `import.help.*`), so
the legend reads in the console's language and says what `guanxi import KIND --help` says."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from guanxi.console.pages.import_values import field_label
from guanxi.console.session import language, tr
from guanxi.dataio.headers import FIELDS, ONE_OF, REQUIRED
from guanxi.kit.i18n import catalog


def field_help(kind: str, name: str) -> str:
    """What a field means, for this kind when it means something of its own (an order's number)."""
    texts = catalog(language())
    for key in (f"import.help.{kind}.{name}", f"import.help.{name}"):
        if key in texts:
            return texts[key]
    return ""


def need_of(kind: str, name: str) -> str:
    if name in REQUIRED.get(kind, ()):
        return "required"
    if name in ONE_OF.get(kind, ()):
        return "one_of"
    return "optional"


def legend_rows(kind: str) -> list[dict[str, Any]]:
    """Required fields first, then those naming the customer, then the rest (each in the kind's order)."""
    order = {"required": 0, "one_of": 1, "optional": 2}
    names = sorted(FIELDS[kind], key=lambda n: order[need_of(kind, n)])
    # The field's code is the row's key only (never a column): staff read the display name.
    return [
        {
            "key": name,
            "label": field_label(kind, name),
            "need": tr(f"import.legend.{need_of(kind, name)}"),
            "required": need_of(kind, name) == "required",
            "help": field_help(kind, name),
        }
        for name in names
    ]


NEED_CELL = r"""
<q-td :props="props">
  <q-badge v-if="props.row.required" color="negative" :label="props.value" />
  <span v-else class="text-slate-500">{{ props.value }}</span>
</q-td>
"""


class Legend:
    """An expandable table under the file step; it follows the chosen kind."""

    def build(self, kind: str) -> None:
        with ui.expansion(tr("import.legend.title"), icon="view_column").classes("w-full").mark("import-legend"):
            self.hint = ui.label("").classes("text-sm text-slate-500")
            columns = [
                {"name": n, "label": tr(f"import.legend.col.{n}"), "field": n, "align": "left"}
                for n in ("label", "need", "help")
            ]
            self.table = ui.table(rows=[], columns=columns, row_key="key").props("flat dense wrap-cells")
            self.table.classes("w-full").mark("import-legend-table")
            self.table.add_slot("body-cell-need", NEED_CELL)
        self.show(kind)

    def show(self, kind: str) -> None:
        group = ONE_OF.get(kind, ())
        names = tr("merge.list_separator").join(field_label(kind, n) for n in group)
        self.hint.set_text(tr("import.legend.hint", fields=names) if group else "")
        self.table.rows = legend_rows(kind)
        self.table.update()
