"""What a finished import job shows on the import page: its changes and conflicts field by field
(the customer's value -> the file's), the bad values it dropped by kind, and for an order import
its history choice with what it gave the members (points, points expiring at the next run, the
members' tiers by name)."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from guanxi.console.actions import perform
from guanxi.console.pages.import_values import field_label, spoken_list
from guanxi.console.session import language, tr
from guanxi.console.widgets import choice, facts, notice, show
from guanxi.dataio.headers import FIELDS
from guanxi.dataio.models import ImportJob
from guanxi.kit import formatting
from guanxi.kit.row_problems import RowProblem, problems_of
from guanxi.loyalty import explain
from guanxi.loyalty.members.history import RECORD
from guanxi.loyalty.program import config as program

# Fields whose stored codes a change shows by their catalog names (male -> 男).
LABELLED = {"gender": "gender", "source_channel": "source"}


def change_rows(kind: str, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per changed or conflicting field of the report's samples, in the console's words."""
    rows = []
    for sample in samples:
        for name, (before, after) in sample["changes"].items():
            field = name.removeprefix("identity.")
            rows.append(
                {
                    "key": f"{sample['line']}:{name}",
                    "line": sample["line"],
                    "outcome": tr(f"import.outcome.{sample['status']}"),
                    "field": field_label(kind, field),
                    "change": tr("import.change", before=_value(field, before), after=_value(field, after)),
                }
            )
    return rows


def _value(field: str, value: Any) -> str:
    return choice(LABELLED[field], value) if field in LABELLED else show(value)


def report(job: ImportJob) -> None:
    """What a finished job changed field by field, what it held back, the values it dropped, and
    what its history choice gave the members."""
    data = job.report or {}
    with ui.column().classes("w-full gap-2"):
        if job.kind == "orders":
            _history(job, data.get("history"))
        if job.conflicts:
            notice(tr("import.conflicts", conflicts=job.conflicts)).mark("import-conflicts")
        samples = data.get("samples") or []
        if samples:
            ui.label(tr("import.changes", count=len(samples))).classes("font-medium")
            ui.label(tr("import.changes_hint")).classes("text-sm text-slate-500")
            cols = [
                {"name": n, "label": tr(f"import.col.{n}"), "field": n, "align": "left"}
                for n in ("line", "outcome", "field", "change")
            ]
            ui.table(columns=cols, rows=change_rows(job.kind, samples), row_key="key").classes("w-full").props(
                "dense flat"
            ).mark("import-changes")
        for title, marker, lines in (
            ("import.refusals", "import-refusals", refusal_lines(job.kind, job.reasons or {}, data.get("problems"))),
            (
                "import.warnings",
                "import-warnings",
                warning_lines(job.kind, data.get("warnings") or {}, data.get("problems")),
            ),
        ):
            if lines:
                ui.label(tr(title)).classes("font-medium")
                with ui.column().classes("gap-0").mark(marker):
                    for text in lines:
                        ui.label(text).classes("text-sm")


def refusal_lines(kind: str, reasons: dict[str, int], problems: list[dict[str, Any]] | None = None) -> list[str]:
    """Why rows were refused, with how many rows each: English reads the importers' sentence after
    the field's display name; another language the field's name and the catalog's reason for the
    problem's code (生日：不是真实存在的日期（2 行）)."""
    if language() == "en" or problems is None:
        return _sentence_lines(kind, reasons, "refused")
    return _problem_lines(kind, [p for p in problems if p.get("action", "refused") == "refused"])


def warning_lines(kind: str, warnings: dict[str, int], problems: list[dict[str, Any]] | None = None) -> list[str]:
    """The values dropped from kept rows (and places kept as typed) with their counts, as
    `refusal_lines` says refusals. A job run before its problems were recorded keeps only the
    English sentences: another language then counts the rows by the field whose values they lost."""
    if language() != "en" and problems is not None:
        return _problem_lines(kind, [p for p in problems if p.get("action") in ("dropped", "kept")])
    return _sentence_lines(kind, warnings, "dropped")


def _problem_lines(kind: str, entries: list[dict[str, Any]]) -> list[str]:
    lang = language()
    counts: dict[str, int] = {}
    for entry in entries:
        problem = RowProblem.from_dict(entry)
        text = problem.text(kind, lang)
        if problem.action == "kept":
            text = tr("import.action.kept", problem=text)
        counts[text] = counts.get(text, 0) + int(entry.get("count") or 0)
    return [tr("import.warning_count", warning=text, count=formatting.number(n, lang)) for text, n in counts.items()]


def _sentence_lines(kind: str, sentences: dict[str, int], action: str) -> list[str]:
    lang = language()
    if action == "refused" and lang != "en":
        # an old job's refusals: what can be said of each without its English sentence
        entries = [
            {**problem.as_dict(), "count": count}
            for reason, count in sentences.items()
            for problem in problems_of(reason)
        ]
        return _problem_lines(kind, entries)
    counts: dict[str, int] = {}
    for warning, count in sentences.items():
        name, _, sentence = warning.partition(": ")
        name = name.removeprefix("identity.")
        if name not in FIELDS.get(kind, ()):
            text = warning  # not a field's warning: as the job has it
        elif lang == "en":
            text = tr("import.problem", field=field_label(kind, name), text=sentence)
        else:
            text = field_label(kind, name)
        counts[text] = counts.get(text, 0) + int(count)
    return [tr("import.warning_count", warning=text, count=formatting.number(n, lang)) for text, n in counts.items()]


def _history(job: ImportJob, figures: dict[str, Any] | None) -> None:
    chosen = str((job.options or {}).get("history") or RECORD)
    with ui.column().classes("gap-1").mark("import-history-figures"):
        ui.label(tr("import.history_chosen", choice=tr(f"import.history.{chosen}"))).classes("font-medium")
        if not figures:
            return
        tiers = figures.get("tiers") or {}
        names = _tier_names() if tiers else {}
        lang = language()

        def figure(name: str) -> str:
            return formatting.number(int(figures.get(name) or 0), lang)

        rows = [
            (tr("import.history_figure.members"), figure("members")),
            (tr("import.history_figure.points_awarded"), figure("points_awarded")),
            (tr("import.history_figure.expire_at_next_run"), figure("expire_at_next_run")),
            (
                tr("import.history_figure.tiers"),
                spoken_list(
                    [
                        f"{names.get(code, code)} {formatting.number(int(tiers[code]), lang)}"
                        for code in _ladder_order(tiers, names)
                    ]
                )
                or "—",
            ),
        ]
        facts(rows)
        if figures.get("expire_at_next_run"):
            ui.label(tr("import.history_expiring", points=figure("expire_at_next_run"))).classes(
                "text-sm text-slate-500"
            )


def _ladder_order(tiers: dict[str, int], names: dict[str, str]) -> list[str]:
    known = list(names)
    return sorted(tiers, key=lambda code: known.index(code) if code in known else len(known))


def _tier_names() -> dict[str, str]:
    """The program's tiers by code, named in the console's language (the ladder is not personal)."""
    result = perform(lambda s, p: program.load(s), write=False, notify=False)
    return explain.tier_names(result.value.tiers if result.value else (), language())
