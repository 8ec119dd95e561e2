"""Customer exports from the console as background runs: a list of any length is written to a
private file in GUANXI_HOME/exports by a run (`kit.runs`, kind `customers.export`), never by the
console's event loop; the page that started it downloads the file once the run is done, and the
file is deleted as it is sent (the hourly purge deletes one left behind: `dataio.files`).

The export itself is `dataio.export.export_customers`, as for the API and the CLI (same scope,
masking and audit). Only the person who started the run, or an administrator, sees it and its
file; its parameters (a search term, a city) are cleared when it ends.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers.service import CustomerFilter
from guanxi.dataio import export, files
from guanxi.kit import runs
from guanxi.kit.db import Database
from guanxi.kit.errors import DomainError, NotFound
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun, RunContext

KIND = "customers.export"
# The console's filters: plain text fields of CustomerFilter.
FILTER_FIELDS = ("q", "city", "tag")


class ExportGone(DomainError):
    status = 410
    code = "export_gone"
    title = "Export file gone"


def start(
    session: Session, actor: Principal, flt: CustomerFilter, *, fmt: str, language: str | None, database: Database
) -> BackgroundRun:
    """Check the permission and the format now, record the run, start it after the commit."""
    require(actor, "customers", "export")
    export.check_format(fmt)
    filters = {k: v for k, v in asdict(flt).items() if k in FILTER_FIELDS and v}
    run = runs.create(session, actor, KIND, {"format": fmt, "language": language, "filter": filters})
    runs.launch(session, run.id, database)
    return run


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
                flt=CustomerFilter(**parameters.get("filter", {})),
                fmt=fmt,
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
        raise NotFound(message=f"export {run_id} has not finished")
    path = files.exports_dir() / Path(str((run.result or {}).get("file", ""))).name
    if not path.is_file():
        raise ExportGone(message=f"export {run_id}: the file was sent already or deleted; run the export again")
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


runs.register(KIND, run_export, keep_parameters=False)
