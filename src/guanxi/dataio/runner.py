"""The import loop shared by the kinds: read rows, map and validate them, sort out rows repeated
inside the file, write each batch in its own transaction, report every refused row.

Memory stays flat whatever the file's size: rows are streamed, a batch is the only thing held, and
what must be remembered across the file lives in scratch SQLite files (`scratch`), not in Python:
- a row naming what an earlier row named (the same customer on every line of an order export) is
  *repeated* when its values are the same, and is written after the first when they differ (it
  then fills, updates or conflicts as any row meeting a known customer); it is never refused;
- an importer that `groups_lines` (orders) has its rows staged and given back grouped by record
  (the lines of one order, wherever they are in the file), then written as one record each.
A dry run goes through the same code and rolls each batch back, so its counts are what a real run
would do; the one difference: a row merged into an earlier row of an earlier batch that created a
customer finds no customer in a dry run (that batch was rolled back) and counts as created too.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy.orm import Session

from guanxi.dataio import mappings, readers
from guanxi.dataio import values as cells
from guanxi.dataio.history import HistoryPass
from guanxi.dataio.history import choice_of as history_choice
from guanxi.dataio.import_balances import BalanceFigures, BalanceImporter
from guanxi.dataio.import_customers import CustomerImporter
from guanxi.dataio.import_events import EventImporter
from guanxi.dataio.import_orders import OrderImporter
from guanxi.dataio.importers import GroupingImporter, Importer, RowOutcome, describe, row_fields, value_map_problems
from guanxi.dataio.mappings import Mapping, Resolved
from guanxi.dataio.scratch import Scratch, SeenKeys, Staged
from guanxi.kit import sealed
from guanxi.kit.db import Database
from guanxi.kit.principal import Principal
from guanxi.kit.row_problems import RowProblem, problems_of
from guanxi.loyalty.members.history import RECORD

IMPORTERS: dict[str, Importer] = {
    "customers": CustomerImporter(),
    "orders": OrderImporter(),
    "events": EventImporter(),
    "balances": BalanceImporter(),
}
MAX_REASONS = 20
MAX_PROBLEMS = 40  # refusals and warnings together, by field and code
MAX_SAMPLES = 50  # field-level changes and conflicts kept in the job's report for the preview
# On PostgreSQL a table that grows from nothing keeps the planner's first picture of it (a handful
# of rows) until autovacuum analyses it, minutes later: the batch lookups by identity then filter
# every phone instead of seeking the unique index. Statistics are refreshed after these batches.
REFRESH_STATISTICS_AFTER = frozenset({1, 4, 16, 64, 256, 1024})


class MissingColumns(Exception):
    def __init__(self, message: str, missing: list[str], *, one_column: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing
        self.one_column = one_column  # the header read as a single column: likely the wrong delimiter


ONE_COLUMN_SHORT = "1 column found in the header line: wrong delimiter?"
ONE_COLUMN = f"{ONE_COLUMN_SHORT} Columns are recognised when separated by commas, tabs, semicolons, pipes or spaces"


@dataclass
class Summary:
    kind: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates: int = 0
    repeated: int = 0
    conflicts: int = 0
    progress: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    # Every refusal's and warning's problems by field and code (`problems.RowProblem.summary_key`).
    problems: Counter[tuple[str, str, str, str, str | None, str]] = field(default_factory=Counter)
    problem_of: dict[tuple[str, str, str, str, str | None, str], RowProblem] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    errors_path: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    # Figures of the job's history choice (orders) or of what else ran after the rows, by name.
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, outcome: RowOutcome) -> None:
        self.rows += 1
        counter = "conflicts" if outcome.status == "conflict" else outcome.status
        setattr(self, counter, getattr(self, counter) + 1)
        if outcome.status == "rejected" and outcome.reason:
            self.reasons.update(_reason_kinds(outcome.reason))
            self._count_problems(problems_of(outcome.reason))
        for warning in outcome.warnings:
            self.warnings.update(_reason_kinds(warning))
            self._count_problems(problems_of(warning, "kept" if warning.endswith("; kept as typed") else "dropped"))
        if outcome.changes and len(self.samples) < MAX_SAMPLES:
            self.samples.append(
                {
                    "line": outcome.line,
                    "status": outcome.status,
                    "entity_id": outcome.entity_id,
                    "changes": {k: [_plain(a), _plain(b)] for k, (a, b) in outcome.changes.items()},
                }
            )

    def _count_problems(self, found: tuple[RowProblem, ...]) -> None:
        for problem in found:
            key = problem.summary_key()
            self.problems[key] += 1
            self.problem_of.setdefault(key, problem)

    def problem_counts(self) -> list[dict[str, Any]]:
        """The problems of refused rows and of dropped or kept values with how many rows had
        each, most frequent first: {"field", "code", "params", "message", "action", "count"}."""
        return [
            {**self.problem_of[key].as_dict(), "count": count} for key, count in self.problems.most_common(MAX_PROBLEMS)
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "repeated": self.repeated,
            "conflicts": self.conflicts,
            "reasons": dict(self.reasons.most_common(MAX_REASONS)),
        }

    def report(self) -> dict[str, Any]:
        """What the job keeps beyond its counts: warnings by kind, samples, the history figures."""
        return {
            "warnings": dict(self.warnings.most_common(MAX_REASONS)),
            "problems": self.problem_counts(),
            "samples": self.samples,
            **self.extra,
        }


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


# The tail of a warning saying what became of the value, not a problem of its own.
_WHAT_WAS_DONE = frozenset({"dropped", "kept as typed"})


def _reason_kinds(reason: str) -> list[str]:
    """The problems of a reason without the row's own values, for the counts by reason: a row
    refused for a bad phone and a bad birthday counts under both."""
    kinds = []
    for part in reason.split("; "):
        if part in _WHAT_WAS_DONE:
            continue
        text = part.split(" (got ", 1)[0]
        kinds.append("duplicate row" if text.startswith("duplicate of line") else text[:120])
    return kinds


def missing_message(resolved: Resolved, column_count: int | None = None) -> str | None:
    parts = []
    if (resolved.missing or resolved.missing_one_of) and column_count == 1:
        parts.append(ONE_COLUMN)
    if resolved.missing:
        parts.append("required column(s) missing: " + ", ".join(resolved.missing))
    if resolved.missing_one_of:
        parts.append("at least one of these columns is needed: " + ", ".join(resolved.missing_one_of))
    parts.extend(resolved.absent)
    return "; ".join(parts) or None


def _refuse_missing(resolved: Resolved, column_count: int, mapping: Mapping | None = None) -> None:
    message = missing_message(resolved, column_count)
    problems = value_map_problems(mapping, resolved) if mapping is not None else []
    if problems:
        message = "; ".join([*([message] if message else []), *problems])
    if message:
        missing = [*resolved.missing, *resolved.missing_one_of]
        raise MissingColumns(message, missing, one_column=column_count == 1)


def inspect(path: Path, kind: str, mapping: Mapping | None = None, fmt: str | None = None) -> Resolved:
    """Check a file can be imported at all (format, encoding, header, required columns) without
    reading its rows. Raises readers.FileProblem or MissingColumns."""
    with readers.open_rows(path, fmt) as source:
        resolved = mappings.resolve(source.headers, kind, mapping)
        columns = len(source.headers)
    _refuse_missing(resolved, columns, mapping)
    return resolved


def errors_context(job_id: str | None) -> str:
    """What a job's sealed errors file is bound to: it opens only as that job's refused rows."""
    return f"import-errors:{job_id or ''}"


# The last column of a sealed errors file: each row's problems as JSON, so the file is sent with
# its reasons in the language of whoever downloads it (files.RefusedRows), never shown itself.
PROBLEMS_COLUMN = "_problems"


class ErrorsFile:
    """The refused rows: the file's own columns plus `error` (and `PROBLEMS_COLUMN`), as UTF-8 CSV
    with a BOM (Excel), formula-like cells neutralised. Created on the first refused row, sealed as
    it is written (it holds the file's personal data): nothing of it reaches the disk in clear."""

    def __init__(self, path: Path | None, columns: list[str], context: str) -> None:
        self.path = path
        self.columns = columns
        self.context = context
        self._handle: IO[str] | None = None
        self._writer: Any = None

    def write(self, line: int, values: dict[str, Any], reason: str) -> None:
        if self.path is None:
            return
        if self._writer is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._handle = sealed.open_text_writer(self.path, self.context, encoding="utf-8-sig")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["line", *self.columns, "error", PROBLEMS_COLUMN])
        cells_out = [
            cells.neutralise(
                readers.cell_text(values.get(c))
                if not isinstance(values.get(c), dict | list)
                else json.dumps(values.get(c), ensure_ascii=False)
            )
            for c in self.columns
        ]
        found = json.dumps([p.as_dict() for p in problems_of(reason)], ensure_ascii=False)
        self._writer.writerow([line, *cells_out, cells.neutralise(reason), found])

    @property
    def written(self) -> bool:
        return self._writer is not None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


BatchHook = Callable[[Session, Summary], None]
ProgressHook = Callable[[Summary], None]


@dataclass
class _Job:
    """What one run of the loop carries from batch to batch."""

    database: Database
    actor: Principal
    importer: Importer
    summary: Summary
    errors: ErrorsFile
    job_id: str | None
    options: dict[str, Any]
    dry_run: bool
    on_batch: BatchHook | None
    on_progress: ProgressHook | None
    source: readers.RowSource
    seen: SeenKeys = field(default_factory=SeenKeys)
    batches: int = 0
    # The history choice's pass (orders imported with history "tiers" or "points")
    history: HistoryPass | None = None
    balances: BalanceFigures | None = None  # what an opening-balances import set

    def written(self, session: Session, records: list[Any], outcomes: list[RowOutcome]) -> None:
        """Tell the history pass what a batch wrote (in its transaction, before a dry run's rollback)."""
        if self.history is not None:
            self.history.add_batch(session, records, outcomes)
        if self.balances is not None:
            self.balances.add(outcomes)

    def progress(self, share: float = 1.0, start: float = 0.0) -> None:
        self.summary.progress = start + share * self.source.progress()
        if self.on_progress:
            self.on_progress(self.summary)

    def batch_written(self) -> None:
        self.batches += 1
        if self.batches in REFRESH_STATISTICS_AFTER and self.database.dialect == "postgresql" and not self.dry_run:
            self.database.analyze()


def run(
    database: Database,
    actor: Principal,
    *,
    kind: str,
    path: Path,
    fmt: str | None = None,
    mapping: Mapping | None = None,
    dry_run: bool = False,
    errors_path: Path | None = None,
    job_id: str | None = None,
    options: dict[str, Any] | None = None,
    on_batch: BatchHook | None = None,
    on_progress: ProgressHook | None = None,
    batch_size: int | None = None,
) -> Summary:
    """Import the file. Raises readers.FileProblem / MissingColumns before writing anything when
    the file as a whole cannot be imported."""
    importer = IMPORTERS[kind]
    mapping = mapping or Mapping(kind=kind)
    options = {**(options or {}), "mapping": mapping}
    size = batch_size or importer.batch_size
    summary = Summary(kind, dry_run)
    with readers.open_rows(path, fmt) as source:
        resolved = mappings.resolve(source.headers, kind, mapping)
        _refuse_missing(resolved, len(source.headers), mapping)
        summary.columns = dict(resolved.fields)
        errors = ErrorsFile(errors_path, source.headers, errors_context(job_id))
        job = _Job(database, actor, importer, summary, errors, job_id, options, dry_run, on_batch, on_progress, source)
        choice = history_choice(options) if kind == "orders" else RECORD
        if choice != RECORD:
            job.history = HistoryPass(choice, dry_run=dry_run, job_id=job_id)
        if kind == "balances":
            job.balances = BalanceFigures()
        try:
            grouping = cast(GroupingImporter, importer) if getattr(importer, "groups_lines", False) else None
            if grouping is not None and _keys_repeat(grouping, path, fmt, kind, mapping):
                _run_grouped(job, grouping, _prepared_rows(job, resolved, mapping), size)
            else:
                # every record is on one row: no need to hold the file back
                _run_rows(job, _prepared_rows(job, resolved, mapping), size)
            if job.history is not None:
                summary.extra.update(job.history.finish(database, actor))
            if job.balances is not None:
                summary.extra.update(job.balances.as_dict())
        finally:
            job.seen.close()
            errors.close()
            if job.history is not None:
                job.history.close()
        summary.errors_path = str(errors_path) if errors.written and errors_path else None
    return summary


def _prepared_rows(job: _Job, resolved: Resolved, mapping: Mapping) -> Iterator[tuple[readers.Row, Any, bytes]]:
    """Each row with its prepared record (or the text of what is wrong) and a digest of its fields."""
    source, kind = job.source, job.summary.kind
    columns = list(source.headers)
    known = set(columns)
    for row in source:
        if row.problem is None and not known.issuperset(row.values):
            # JSONL objects need not share their keys: recognise a new key when it first shows
            columns += [k for k in row.values if k not in known]
            known.update(columns)
            resolved = mappings.resolve(columns, kind, mapping)
        if row.problem is not None:
            yield row, f"row {row.problem}", b""
            continue
        fields = row_fields(row.values, resolved, mapping, row.line)
        prepared = job.importer.prepare(row.line, fields, mapping)
        content = SeenKeys.digest(json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False))
        yield row, describe(prepared) if isinstance(prepared, list) else prepared, content


def _keys_repeat(importer: GroupingImporter, path: Path, fmt: str | None, kind: str, mapping: Mapping) -> bool:
    """Whether two rows of the file share a record key (the lines of one order): a first, quick
    read of the key columns only. Staging every row costs more than reading the file twice."""
    seen = Scratch("CREATE TABLE k (d BLOB PRIMARY KEY) WITHOUT ROWID;")
    try:
        with readers.open_rows(path, fmt, check=False) as source:
            resolved = mappings.resolve(source.headers, kind, mapping)
            for row in source:
                if row.problem is not None:
                    continue
                key = importer.raw_key(row_fields(row.values, resolved, mapping, row.line))
                if key is not None and not seen.insert(SeenKeys.digest(key)):
                    return True
        return False
    finally:
        seen.close()


def _run_rows(job: _Job, rows: Iterator[tuple[readers.Row, Any, bytes]], size: int) -> None:
    batch: list[tuple[readers.Row, Any, bytes]] = []
    for item in rows:
        batch.append(item)
        if len(batch) >= size:
            _flush(job, batch)
            batch = []
            job.batch_written()
            job.progress()
    job.summary.progress = 1.0
    _flush(job, batch, final=True)


def _flush(job: _Job, batch: list[tuple[readers.Row, Any, bytes]], *, final: bool = False) -> None:
    """Sort a batch into refused rows, repeats of earlier rows and records to write; write them.
    A row naming what an earlier row named with other values is written after it, in the same
    transaction (a later wave), so it meets the customer the earlier row created or updated."""
    outcomes: dict[int, RowOutcome] = {}
    keyed: list[tuple[readers.Row, Any, bytes, list[bytes]]] = []
    for row, prepared, content in batch:
        if isinstance(prepared, str):
            outcomes[row.line] = RowOutcome(row.line, "rejected", prepared)
        else:
            keyed.append((row, prepared, content, [SeenKeys.digest(k) for k in job.importer.keys(prepared)]))
    earlier = job.seen.lookup([d for *_, digests in keyed for d in digests])
    fresh: list[tuple[bytes, int, bytes | None]] = []
    waves: list[list[Any]] = [[]]
    wave_of: dict[bytes, int] = {}  # key -> the last wave of this batch that writes it
    for row, record, content, digests in keyed:
        first = next((earlier[d] for d in digests if d in earlier), None)
        if first is not None and first[1] == content:
            outcomes[row.line] = RowOutcome(row.line, "repeated", f"same as line {first[0]}")
            continue
        wave = max((wave_of[d] + 1 for d in digests if d in wave_of), default=0)
        if wave == len(waves):
            waves.append([])
        waves[wave].append(record)
        for d in digests:
            wave_of[d] = wave
            if first is None and d not in earlier:
                earlier[d] = (row.line, content)
                fresh.append((d, row.line, content))
    job.seen.add(fresh)
    _write(job, [row for row, *_ in batch], [w for w in waves if w], outcomes, final=final)


def _write(
    job: _Job,
    rows: list[readers.Row],
    waves: list[list[Any]],
    outcomes: dict[int, RowOutcome],
    *,
    final: bool = False,
) -> None:
    """Write the records, wave after wave, in one transaction (rolled back in a dry run) and count
    every row."""
    if not (waves or final or job.on_batch or rows):
        return
    with job.database.unit_of_work() as session:
        if waves:
            savepoint = session.begin_nested() if job.dry_run else None
            for records in waves:
                written = job.importer.apply(session, job.actor, records, job_id=job.job_id, options=job.options)
                job.written(session, records, written)
                for outcome in written:
                    outcomes[outcome.line] = outcome
            if savepoint is not None:
                savepoint.rollback()
        for row in rows:
            outcome = outcomes[row.line]
            job.summary.add(outcome)
            if outcome.status == "rejected":
                job.errors.write(row.line, row.values, outcome.reason or "refused")
        if job.on_batch:
            job.on_batch(session, job.summary)


def _run_grouped(
    job: _Job, importer: GroupingImporter, rows: Iterator[tuple[readers.Row, Any, bytes]], size: int
) -> None:
    """Rows that are lines of one record (order lines sharing an order id, wherever they are in the
    file): staged while the file is read, then combined and written group by group."""
    stage = Staged()
    try:
        for read, (row, prepared, _content) in enumerate(rows, start=1):
            if isinstance(prepared, str):
                _count(job, row.line, row.values, RowOutcome(row.line, "rejected", prepared))
            else:
                stage.add(importer.group_key(prepared), row.line, (row.values, prepared))
            if read % size == 0:
                job.progress(0.5)
        batch: list[tuple[Any, list[tuple[int, dict[str, Any]]]]] = []
        lines_held = done = 0
        for group in stage.groups():
            done += 1
            members = [(line, values) for line, (values, _) in group]
            combined = importer.combine([record for _, (_, record) in group])
            if isinstance(combined, str):
                for line, values in members:
                    _count(job, line, values, RowOutcome(line, "rejected", combined))
                continue
            batch.append((combined, members))
            lines_held += len(members)
            if lines_held >= size:
                _write_groups(job, batch)
                batch, lines_held = [], 0
                job.batch_written()
                job.summary.progress = 0.5 + 0.5 * done / max(stage.count, 1)
                if job.on_progress:
                    job.on_progress(job.summary)
        job.summary.progress = 1.0
        _write_groups(job, batch, final=True)
    finally:
        stage.close()


def _count(job: _Job, line: int, values: dict[str, Any], outcome: RowOutcome) -> None:
    job.summary.add(outcome)
    if outcome.status == "rejected":
        job.errors.write(line, values, outcome.reason or "refused")


def _write_groups(job: _Job, batch: list[tuple[Any, list[tuple[int, dict[str, Any]]]]], *, final: bool = False) -> None:
    """Write combined records; every line of a record is counted with the record's outcome."""
    if not batch and not final:
        return
    figures = job.summary.extra.setdefault("records", {"created": 0, "unchanged": 0, "rejected": 0})
    with job.database.unit_of_work() as session:
        if batch:
            savepoint = session.begin_nested() if job.dry_run else None
            records = [record for record, _ in batch]
            outcomes = job.importer.apply(session, job.actor, records, job_id=job.job_id, options=job.options)
            job.written(session, records, outcomes)
            if savepoint is not None:
                savepoint.rollback()
            for outcome, (_, members) in zip(outcomes, batch, strict=True):
                figures[outcome.status] = figures.get(outcome.status, 0) + 1
                for line, values in members:
                    _count(job, line, values, replace(outcome, line=line))
        if job.on_batch:
            job.on_batch(session, job.summary)
