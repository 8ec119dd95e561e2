"""Customer exports from the console as background runs: a list of any length is written to a
private file in GUANXI_HOME/exports by a run (`kit.runs`, kind `customers.export`), never by the
console's event loop; the page that started it downloads the file once the run is done, and the
file is deleted as it is sent (the hourly purge deletes one left behind: `dataio.files`).

The export itself is `dataio.export.export_customers`, as for the CLI (same scope, masking and
audit); POST /api/v1/exports/customers starts the same run (`jobs.api`), with any of the
customer filters or a segment's members. Only the person who started the run, or an
administrator, sees it and its file; its parameters (a search term, a city) are cleared when it
ends.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers.listing import CustomerFilter
from guanxi.dataio import export, files
from guanxi.kit import runs
from guanxi.kit.db import Database
from guanxi.kit.errors import DomainError, NotFound
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun, RunContext
from guanxi.marketing import segments

KIND = "customers.export"
# The filters kept as times (ISO 8601 in the run's parameters); the others are plain text.
TIME_FIELDS = ("created_from", "created_to")


class ExportGone(DomainError):
    status = 410
    code = "export_gone"
    title = "Export file gone"


def start(
    session: Session,
    actor: Principal,
    flt: CustomerFilter,
    *,
    fmt: str,
    language: str | None,
    database: Database,
    segment_id: str | None = None,
) -> BackgroundRun:
    """Check the permission, the format and the segment now, record the run, start it after the
    commit."""
    require(actor, "customers", "export")
    export.check_format(fmt)
    parameters: dict[str, Any] = {"format": fmt, "language": language, "filter": _filter_data(flt)}
    if segment_id:
        require(actor, "customers", "read")  # as reading the members will
        segments.get_segment(session, actor, segment_id)
        parameters["segment_id"] = segment_id
    run = runs.create(session, actor, KIND, parameters)
    runs.launch(session, run.id, database)
    return run


def _filter_data(flt: CustomerFilter) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(flt).items() if v}


def _filter_of(data: dict[str, Any]) -> CustomerFilter:
    values: dict[str, Any] = {k: datetime.fromisoformat(v) if k in TIME_FIELDS and v else v for k, v in data.items()}
    return CustomerFilter(**values)


def _write(context: RunContext, read_only_first: bool) -> tuple[int, Path]:
    fmt, parameters = str(context.parameters["format"]), context.parameters
    handle, path = files.new_export_file(fmt)
    try:
        # A long read need not hold SQLite's write lock: only the audit record at the end writes.
        with handle, context.database.unit_of_work(lock_early=not read_only_first) as session:
            rows = export.export_customers(
                session,
                context.actor,
                handle,
                flt=_filter_of(parameters.get("filter", {})),
                fmt=fmt,
                segment_id=parameters.get("segment_id"),
                language=parameters.get("language"),
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return rows, path


def run_export(context: RunContext) -> dict[str, Any]:
    """The run's work: the file, its row count. A read that finds the database changed under it
    when it comes to write its audit record (SQLite) runs again as a writer, as the console does."""
    try:
        rows, path = _write(context, read_only_first=True)
    except OperationalError:
        rows, path = _write(context, read_only_first=False)
    return {"rows": rows, "format": context.parameters["format"], "file": path.name}


def get(session: Session, actor: Principal, run_id: str) -> BackgroundRun:
    """An export run, for the person who started it or an administrator."""
    require(actor, "customers", "export")
    return runs.get_own(session, actor, run_id, kind=KIND, resource="customers")


def take_file(session: Session, actor: Principal, run_id: str) -> bytes:
    """The finished export's file, deleted as it is read (it holds personal data)."""
    run = get(session, actor, run_id)
    if run.status != "done":
        raise NotFound(
            message=f"export {run_id} has not finished", key="problem.exports.unfinished", params={"id": run_id}
        )
    path = files.exports_dir() / Path(str((run.result or {}).get("file", ""))).name
    if not path.is_file():
        raise ExportGone(
            message=f"export {run_id}: the file was sent already or deleted; run the export again",
            key="problem.exports.gone",
            params={"id": run_id},
        )
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


runs.register(KIND, run_export, keep_parameters=False)
