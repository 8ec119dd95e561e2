"""The import loop shared by the three kinds: read rows, map and validate them, drop rows repeated
inside the file, write each batch in its own transaction, report every refused row.

Memory stays flat whatever the file's size: rows are streamed, a batch is the only thing held, and
the keys seen so far (to find duplicate rows) live in a scratch SQLite file, not in a Python set.
A dry run goes through exactly the same code and rolls each batch back, so its counts are what a
real run would do (rows that meet an earlier row of the file are caught by the duplicate check in
both, whatever batch they fall in).
"""

from __future__ import annotations

import csv
import hashlib
import secrets
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session

from guanxi.dataio import headers, readers
from guanxi.dataio import values as cells
from guanxi.dataio.headers import Mapping, Resolved
from guanxi.dataio.import_customers import CustomerImporter
from guanxi.dataio.import_events import EventImporter
from guanxi.dataio.import_orders import OrderImporter
from guanxi.dataio.importers import Importer, RowOutcome, describe, row_fields, value_map_problems
from guanxi.kit import sealed
from guanxi.kit.db import Database
from guanxi.kit.principal import Principal

IMPORTERS: dict[str, Importer] = {"customers": CustomerImporter(), "orders": OrderImporter(), "events": EventImporter()}
MAX_REASONS = 20
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
            self.reasons[_reason_kind(outcome.reason)] += 1
        for warning in outcome.warnings:
            self.warnings[_reason_kind(warning)] += 1
        if outcome.changes and len(self.samples) < MAX_SAMPLES:
            self.samples.append(
                {
                    "line": outcome.line,
                    "status": outcome.status,
                    "entity_id": outcome.entity_id,
                    "changes": {k: [_plain(a), _plain(b)] for k, (a, b) in outcome.changes.items()},
                }
            )

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
        return {"warnings": dict(self.warnings.most_common(MAX_REASONS)), "samples": self.samples, **self.extra}


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _reason_kind(reason: str) -> str:
    """A reason without the row's own values, for the counts by reason ("phone: is not valid")."""
    text = reason.split(" (got ", 1)[0]
    if text.startswith("duplicate of line"):
        return "duplicate row"
    return text[:120]


def missing_message(resolved: Resolved, column_count: int | None = None) -> str | None:
    parts = []
    if (resolved.missing or resolved.missing_one_of) and column_count == 1:
        parts.append(ONE_COLUMN)
    if resolved.missing:
        parts.append("required column(s) missing: " + ", ".join(resolved.missing))
    if resolved.missing_one_of:
        parts.append("at least one of these columns is needed: " + ", ".join(resolved.missing_one_of))
        foreign = [c for c in resolved.ignored if headers.header_key(c) in headers.FOREIGN_CUSTOMER_ID]
        if foreign:
            parts.append(
                f"column {foreign[0]!r} is taken for another system's customer id, not guanxi's: name the"
                " customer by phone, email, member card or unionid, or map the column to customer_id if it"
                " holds guanxi's ids"
            )
    parts.extend(resolved.absent)
    return "; ".join(parts) or None


def _refuse_missing(resolved: Resolved, column_count: int, mapping: Mapping | None = None) -> None:
    message = missing_message(resolved, column_count)
    problems = value_map_problems(mapping, resolved) if mapping is not None and mapping.values else []
    if problems:
        message = "; ".join([*([message] if message else []), *problems])
    if message:
        missing = [*resolved.missing, *resolved.missing_one_of]
        raise MissingColumns(message, missing, one_column=column_count == 1)


def inspect(path: Path, kind: str, mapping: Mapping | None = None, fmt: str | None = None) -> Resolved:
    """Check a file can be imported at all (format, encoding, header, required columns) without
    reading its rows. Raises readers.FileProblem or MissingColumns."""
    with readers.open_rows(path, fmt) as source:
        resolved = headers.resolve(source.headers, kind, mapping)
        columns = len(source.headers)
    _refuse_missing(resolved, columns, mapping)
    return resolved


_SCRATCH_KEY = secrets.token_bytes(32)


class SeenKeys:
    """Keys of the rows seen so far in this file, in a scratch SQLite file (constant memory)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="guanxi-import-")
        self._db = sqlite3.connect(Path(self._dir.name) / "seen.db")
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE seen (k BLOB PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;"
        )

    @staticmethod
    def digest(key: str) -> bytes:
        # Keyed with a secret of this process: a scratch file a crash left behind cannot be
        # searched for a guessed phone number.
        return hashlib.blake2b(key.encode(), digest_size=12, key=_SCRATCH_KEY).digest()

    def lookup(self, digests: list[bytes]) -> dict[bytes, int]:
        found: dict[bytes, int] = {}
        unique = list(dict.fromkeys(digests))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT k, line FROM seen WHERE k IN ({marks})", chunk).fetchall())  # noqa: S608
        return found

    def add(self, items: list[tuple[bytes, int]]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO seen (k, line) VALUES (?, ?)", items)

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


def errors_context(job_id: str | None) -> str:
    """What a job's sealed errors file is bound to: it opens only as that job's refused rows."""
    return f"import-errors:{job_id or ''}"


class ErrorsFile:
    """The refused rows: the file's own columns plus `error`, as UTF-8 CSV with a BOM (Excel),
    formula-like cells neutralised. Created on the first refused row, sealed as it is written
    (it holds the file's personal data): nothing of it reaches the disk in clear."""

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
            self._writer.writerow(["line", *self.columns, "error"])
        cells_out = [
            cells.neutralise(
                readers.cell_text(values.get(c)) if not isinstance(values.get(c), dict | list) else _json(values.get(c))
            )
            for c in self.columns
        ]
        self._writer.writerow([line, *cells_out, cells.neutralise(reason)])

    @property
    def written(self) -> bool:
        return self._writer is not None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


BatchHook = Callable[[Session, Summary], None]
ProgressHook = Callable[[Summary], None]


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
    options = options or {}
    size = batch_size or importer.batch_size
    summary = Summary(kind, dry_run)
    with readers.open_rows(path, fmt) as source:
        resolved = headers.resolve(source.headers, kind, mapping)
        _refuse_missing(resolved, len(source.headers), mapping)
        summary.columns = dict(resolved.fields)
        errors = ErrorsFile(errors_path, source.headers, errors_context(job_id))
        seen = SeenKeys()
        try:
            batch: list[tuple[readers.Row, Any]] = []
            batches = 0
            columns = list(source.headers)
            known = set(columns)
            for row in source:
                if row.problem is None and not known.issuperset(row.values):
                    # JSONL objects need not share their keys: recognise a new key when it first shows
                    columns += [k for k in row.values if k not in known]
                    known.update(columns)
                    resolved = headers.resolve(columns, kind, mapping)
                if row.problem is not None:
                    batch.append((row, f"row {row.problem}"))
                else:
                    fields = row_fields(row.values, resolved, mapping, row.line)
                    prepared = importer.prepare(row.line, fields, mapping)
                    batch.append((row, describe(prepared) if isinstance(prepared, list) else prepared))
                if len(batch) >= size:
                    _flush(
                        database,
                        actor,
                        importer,
                        batch,
                        seen,
                        errors,
                        summary,
                        job_id,
                        options,
                        dry_run,
                        on_batch,
                        source,
                    )
                    batch = []
                    batches += 1
                    if batches in REFRESH_STATISTICS_AFTER and database.dialect == "postgresql" and not dry_run:
                        database.analyze()
                    if on_progress:
                        on_progress(summary)
            _flush(
                database,
                actor,
                importer,
                batch,
                seen,
                errors,
                summary,
                job_id,
                options,
                dry_run,
                on_batch,
                source,
                final=True,
            )
            if on_progress:
                on_progress(summary)
        finally:
            seen.close()
            errors.close()
        summary.errors_path = str(errors_path) if errors.written and errors_path else None
    return summary


def _flush(
    database: Database,
    actor: Principal,
    importer: Importer,
    batch: list[tuple[readers.Row, Any]],
    seen: SeenKeys,
    errors: ErrorsFile,
    summary: Summary,
    job_id: str | None,
    options: dict[str, Any],
    dry_run: bool,
    on_batch: BatchHook | None,
    source: readers.RowSource,
    *,
    final: bool = False,
) -> None:
    outcomes: dict[int, RowOutcome] = {}
    records: list[Any] = []
    keyed: list[tuple[Any, list[bytes]]] = []
    for row, prepared in batch:
        if isinstance(prepared, str):
            outcomes[row.line] = RowOutcome(row.line, "rejected", prepared)
        else:
            keyed.append((prepared, [SeenKeys.digest(k) for k in importer.keys(prepared)]))
    earlier = seen.lookup([d for _, digests in keyed for d in digests])
    fresh: list[tuple[bytes, int]] = []
    for record, digests in keyed:
        first = next((earlier[d] for d in digests if d in earlier), None)
        if first is not None:
            outcomes[record.line] = RowOutcome(record.line, "rejected", f"duplicate of line {first}")
            summary.duplicates += 1
            continue
        for digest in digests:
            earlier[digest] = record.line
            fresh.append((digest, record.line))
        records.append(record)
    seen.add(fresh)
    if records or final or on_batch:
        with database.unit_of_work() as session:
            if records:
                savepoint = session.begin_nested() if dry_run else None
                for outcome in importer.apply(session, actor, records, job_id=job_id, options=options):
                    outcomes[outcome.line] = outcome
                if savepoint is not None:
                    savepoint.rollback()
            for row, _ in batch:
                outcome = outcomes[row.line]
                summary.add(outcome)
                if outcome.status == "rejected":
                    errors.write(row.line, row.values, outcome.reason or "refused")
            summary.progress = 1.0 if final else source.progress()
            if on_batch:
                on_batch(session, summary)
