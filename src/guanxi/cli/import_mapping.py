"""`guanxi import KIND FILE --show-mapping`: which column feeds which field, which columns are
ignored, what is derived or constant and what is missing, before anything is written."""

from __future__ import annotations

from pathlib import Path

import typer

from guanxi.cli.errors import complain, refusal_text
from guanxi.config import get_settings
from guanxi.dataio import mappings


def _t(key: str, **params: object) -> str:
    from guanxi.kit.i18n import t

    return t(key, get_settings().default_language, **params)


def show_mapping(kind: str, file: Path, mapping_ref: str | None) -> None:
    """Print the file's mapping; exit 0 when the file can be imported as mapped, 2 when not."""
    from rich.console import Console
    from rich.table import Table

    from guanxi.dataio import readers, runner, service
    from guanxi.dataio.importers import value_map_problems
    from guanxi.kit.db import get_database
    from guanxi.kit.errors import DomainError
    from guanxi.kit.principal import SYSTEM

    try:
        with get_database().unit_of_work(read_only=True) as session:
            mapping = service.resolve_mapping(session, SYSTEM, mapping_ref, kind) if mapping_ref else None
        with readers.open_rows(file) as source:
            columns = list(source.headers)
    except DomainError as exc:
        raise _refuse(refusal_text(exc)) from None
    except readers.FileProblem as problem:
        raise _refuse(refusal_text(service.refused(problem))) from None
    mapping = mapping or mappings.Mapping(kind=kind)
    resolved = mappings.resolve(columns, kind, mapping)
    from guanxi.kit.i18n import catalog

    own = catalog(get_settings().default_language)

    def label(name: str) -> str:
        if "." in name:  # an event property column
            return name
        key = f"import.field.{kind}.{name}"  # what a field means in this kind (an order's number)
        return f"{_t(key if key in own else f'import.field.{name}')} ({name})"

    table = Table(title=_t("import.mapping.title", file=file.name, kind=_t(f"import.kind.{kind}")))
    table.add_column(_t("import.mapping.column"))
    table.add_column(_t("import.mapping.field"))
    table.add_column(_t("import.mapping.values"))
    for column in columns:
        name = resolved.fields.get(column)
        values = mapping.value_map(column, name or "") if name else None
        shown = ", ".join(f"{k} → {v if v is not None else '∅'}" for k, v in (values or {}).items())
        table.add_row(column, label(name) if name else _t("import.mapping.ignored"), shown)
    for name, parts in mapping.derive.items():
        table.add_row(" + ".join(parts), f"{label(name)}, {_t('import.mapping.derived')}", "")
    for name, value in mapping.constants.items():
        table.add_row(f'"{value}"', f"{label(name)}, {_t('import.mapping.constant')}", "")
    Console().print(table)
    if resolved.ignored:
        typer.echo(_t("import.mapping.ignored_list", columns=", ".join(resolved.ignored)))
    problems = [runner.missing_message(resolved, len(columns)) or "", *value_map_problems(mapping, resolved)]
    problems = [p for p in problems if p]
    if problems:
        raise _refuse("; ".join(problems))
    typer.echo(_t("import.mapping.ready"))


def _refuse(message: str) -> typer.Exit:
    complain(message)
    return typer.Exit(2)
