"""Import jobs and saved mappings: the use cases behind the API, the console and the CLI.

A job is created only for a file that can be imported at all (known kind and format, readable
encoding, the required columns present): otherwise the caller gets a specific error and nothing
is written. The job then runs in the background (`launch`: a huey task once the queue is wired,
inline otherwise), one transaction per batch, its row carrying progress and counts.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.config import get_settings
from guanxi.dataio import files, history, mappings, readers, runner
from guanxi.dataio.files import imports_dir as imports_dir
from guanxi.dataio.files import job_dir as job_dir
from guanxi.dataio.files import new_job_dir as new_job_dir  # uploads live in dataio.files' folders
from guanxi.dataio.headers import KINDS
from guanxi.dataio.importers import value_map_problems
from guanxi.dataio.mappings import Mapping, MappingError
from guanxi.dataio.models import ImportJob, SavedMapping
from guanxi.kit import clock
from guanxi.kit.db import Database, after_commit
from guanxi.kit.errors import Conflict, DomainError, FieldError, NotFound, PermissionDenied
from guanxi.kit.ids import new_id
from guanxi.kit.models import table_of
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

log = logging.getLogger(__name__)
require = auth_service.require


class ImportRefused(DomainError):
    status = 422
    code = "import_refused"
    title = "Import refused"


class UnknownKind(ImportRefused):
    code = "unknown_kind"
    title = "Unknown import kind"


class UnsupportedFormat(ImportRefused):
    code = "unsupported_format"
    title = "Unsupported file format"


class BadEncoding(ImportRefused):
    code = "bad_encoding"
    title = "Unreadable text encoding"


class EmptyFile(ImportRefused):
    code = "empty_file"
    title = "Empty file"


class UnreadableFile(ImportRefused):
    code = "unreadable_file"
    title = "Unreadable file"


class MissingColumns(ImportRefused):
    code = "missing_columns"
    title = "Required columns missing"


class InvalidMapping(ImportRefused):
    code = "invalid_mapping"
    title = "Invalid column mapping"


class FileTooLarge(DomainError):
    status = 413
    code = "file_too_large"
    title = "File too large"


class ErrorsFileExpired(DomainError):
    status = 410
    code = "errors_file_expired"
    title = "Errors file expired"


_PROBLEMS: dict[str, type[ImportRefused]] = {
    "bad_encoding": BadEncoding,
    "empty_file": EmptyFile,
    "unsupported_format": UnsupportedFormat,
    "unreadable_file": UnreadableFile,
    "not_found": UnreadableFile,
}


def refused(problem: readers.FileProblem) -> ImportRefused:
    cls = _PROBLEMS.get(problem.code, ImportRefused)
    return cls(message=problem.message, errors=[FieldError("file", problem.message, problem.code)])


# Permissions an import of each kind needs on top of imports:create (the services' own).
KIND_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "customers": (("customers", "create"), ("customers", "update")),
    "orders": (("orders", "create"),),
    "events": (("events", "create"),),
    # Opening balances credit points with no approval step: only those who may approve adjustments.
    "balances": (("points", "adjust"), ("points", "approve")),
}


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownKind(
            message=f"kind must be one of {', '.join(KINDS)}",
            errors=[
                FieldError(
                    "kind",
                    f"must be one of {', '.join(KINDS)}",
                    "unknown_kind",
                    params={"kinds": ", ".join(KINDS)},
                    key="problem.import.unknown_kind",
                )
            ],
        )


def require_import(actor: Principal, kind: str) -> None:
    require(actor, "imports", "create")
    check_kind(kind)
    for resource, action in KIND_PERMISSIONS[kind]:
        require(actor, resource, action)


def parse_mapping(data: Any, kind: str) -> Mapping:
    try:
        mapping = mappings.parse_mapping(data, kind)
    except MappingError as exc:
        raise InvalidMapping(message=str(exc), errors=[FieldError("mapping", str(exc), "invalid_mapping")]) from None
    problems = value_map_problems(mapping)
    if problems:
        raise InvalidMapping(
            message="; ".join(problems), errors=[FieldError("mapping", p, "invalid_value_map") for p in problems]
        )
    return mapping


def inspect_file(path: Path, kind: str, mapping: Mapping | None, fmt: str | None = None) -> mappings.Resolved:
    """The columns the file feeds, or the specific reason it cannot be imported."""
    check_kind(kind)
    try:
        return runner.inspect(path, kind, mapping, fmt)
    except readers.FileProblem as problem:
        raise refused(problem) from None
    except runner.MissingColumns as exc:
        errors = [
            FieldError(name, "no column for this field", "missing_column", key="problem.import.missing_column")
            for name in exc.missing
        ]
        if exc.one_column:
            errors.insert(0, FieldError("file", runner.ONE_COLUMN_SHORT, "one_column"))
        raise MissingColumns(message=exc.message, errors=errors) from None


def principal_dict(actor: Principal) -> dict[str, Any]:
    data = asdict(actor)
    data["api_scopes"] = sorted(actor.api_scopes) if actor.api_scopes is not None else None
    data.pop("extra", None)
    return data


def principal_of(job: ImportJob) -> Principal:
    data = dict(job.actor)
    scopes = data.pop("api_scopes", None)
    return Principal(**data, api_scopes=frozenset(scopes) if scopes is not None else None)


def create_job(
    session: Session,
    actor: Principal,
    *,
    kind: str,
    file_name: str,
    path: Path,
    mapping: Mapping | None = None,
    dry_run: bool = False,
    options: dict[str, Any] | None = None,
    job_id: str | None = None,
) -> ImportJob:
    """Check the file and record a queued job (audited). Nothing is written for a refused file."""
    require_import(actor, kind)
    try:
        fmt = readers.detect_format(file_name)
    except readers.FileProblem as problem:
        raise refused(problem) from None
    inspect_file(path, kind, mapping, fmt)
    history.check_options(session, kind, options)
    job = ImportJob(
        id=job_id or new_id(),
        kind=kind,
        file_name=file_name[:255],
        file_path=str(path),
        file_format=fmt,
        file_size=path.stat().st_size,
        dry_run=dry_run,
        mapping=mapping.as_dict() if mapping else {},
        options=options or {},
        actor_id=actor.id,
        actor_name=actor.name,
        actor=principal_dict(actor),
        created_at=clock.now(),
    )
    session.add(job)
    session.flush()
    audit.record(
        session,
        actor,
        "import.create",
        entity_type="import_job",
        entity_id=job.id,
        detail={"kind": kind, "file_name": job.file_name, "format": fmt, "size": job.file_size, "dry_run": dry_run},
    )
    return job


# Set by the job queue (`jobs.queue.enable_wakeups`) to enqueue a job; without it a job runs in
# the caller's thread once its creation has committed.
_launcher: Callable[[str], Any] | None = None


def set_launcher(launcher: Callable[[str], Any] | None) -> None:
    global _launcher
    _launcher = launcher


def launch(session: Session, job_id: str, database: Database) -> None:
    """Start the job after the transaction that created it commits."""

    def start() -> None:
        if _launcher is not None:
            _launcher(job_id)
        else:
            run_job(database, job_id)

    after_commit(session, start)


def start(job_id: str, database: Database) -> None:
    """Start a committed job now: on the queue when it is wired, else in a background thread
    (the console must not wait for a long import)."""
    if _launcher is not None:
        _launcher(job_id)
        return
    threading.Thread(target=run_job, args=(database, job_id), name=f"import-{job_id}", daemon=True).start()


def run_job(database: Database, job_id: str, *, on_progress: runner.ProgressHook | None = None) -> ImportJob:
    """Run a queued job to its end (done or failed); returns the finished row (detached)."""
    jobs = table_of(ImportJob)
    with database.unit_of_work() as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            raise NotFound(
                message=f"import {job_id} not found", key="problem.import.not_found", params={"job_id": job_id}
            )
        if job.status != "queued":
            session.expunge(job)
            return job
        job.status = "running"
        job.started_at = clock.now()
        actor = principal_of(job)
        kind, path, fmt, dry_run = job.kind, Path(job.file_path), job.file_format, job.dry_run
        mapping = mappings.parse_mapping(job.mapping, kind) if job.mapping else None
        options = dict(job.options or {})

    def on_batch(session: Session, summary: runner.Summary) -> None:
        session.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                rows_read=summary.rows,
                created=summary.created,
                updated=summary.updated,
                unchanged=summary.unchanged,
                rejected=summary.rejected,
                duplicates=summary.duplicates,
                repeated=summary.repeated,
                conflicts=summary.conflicts,
                progress=summary.progress,
            )
        )

    error: str | None = None
    summary: runner.Summary | None = None
    try:
        summary = runner.run(
            database,
            actor,
            kind=kind,
            path=path,
            fmt=fmt,
            mapping=mapping,
            dry_run=dry_run,
            errors_path=job_dir(job_id) / files.ERRORS_FILE,
            job_id=job_id,
            options=options,
            on_batch=on_batch,
            on_progress=on_progress,
        )
    except readers.FileProblem as problem:
        error = problem.message
    except runner.MissingColumns as exc:
        error = exc.message
    except DomainError as exc:
        error = exc.message
    except Exception:
        log.exception("import %s failed", job_id)
        error = "the import stopped on an internal error; the rows before it are imported (see the log)"
    with database.unit_of_work() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        job.finished_at = ended = clock.now()
        files.end_of_job(job, summary.errors_path if summary is not None else None, ended)
        if summary is not None:
            counts = summary.as_dict()
            job.status = "done"
            job.progress = 1.0
            job.rows_read = summary.rows
            job.created, job.updated, job.unchanged = summary.created, summary.updated, summary.unchanged
            job.rejected, job.duplicates = summary.rejected, summary.duplicates
            job.repeated, job.conflicts = summary.repeated, summary.conflicts
            job.reasons = counts["reasons"]
            job.report = summary.report()
            audit.record(
                session,
                actor,
                "import.finish",
                entity_type="import_job",
                entity_id=job_id,
                detail={"kind": kind, "dry_run": dry_run, **{k: v for k, v in counts.items() if k != "reasons"}},
            )
        else:
            job.status = "failed"
            job.error = error
            audit.record(
                session,
                actor,
                "import.finish",
                entity_type="import_job",
                entity_id=job_id,
                outcome="failed",
                detail={"kind": kind, "dry_run": dry_run, "error": (error or "")[:200]},
            )
        session.flush()
        session.expunge(job)
    return job


def get_job(session: Session, actor: Principal, job_id: str) -> ImportJob:
    require(actor, "imports", "read")
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(message=f"import {job_id} not found", key="problem.import.not_found", params={"job_id": job_id})
    return job


def list_jobs(
    session: Session, actor: Principal, *, limit: int = 50, kind: str | None = None, offset: int = 0
) -> list[ImportJob]:
    """Imports newest first; `offset` pages the console's history (a few hundred jobs, not millions)."""
    require(actor, "imports", "read")
    stmt = select(ImportJob).order_by(ImportJob.created_at.desc(), ImportJob.id.desc()).limit(limit).offset(offset)
    if kind:
        stmt = stmt.where(ImportJob.kind == kind)
    return list(session.scalars(stmt))


def page_jobs(session: Session, actor: Principal, request: PageRequest, *, kind: str | None = None) -> Page[ImportJob]:
    """Imports newest first, in keyset pages (the API's list shape)."""
    require(actor, "imports", "read")
    stmt = select(ImportJob)
    if kind:
        stmt = stmt.where(ImportJob.kind == kind)
    request = PageRequest(limit=request.limit, cursor=request.cursor, sort="created_at", descending=True)
    stmt, _ = paginate(stmt, request, {"created_at": ImportJob.created_at}, ImportJob.id)
    return make_page(list(session.scalars(stmt)), request, lambda job: (job.created_at, job.id))


def count_jobs(session: Session, actor: Principal, *, kind: str | None = None) -> int:
    require(actor, "imports", "read")
    stmt = select(func.count()).select_from(ImportJob)
    if kind:
        stmt = stmt.where(ImportJob.kind == kind)
    return int(session.scalar(stmt) or 0)


def errors_file(session: Session, actor: Principal, job_id: str) -> files.RefusedRows:
    """The refused rows of a job. They hold the file's own values (personal data), so only the
    person who ran the import, or an administrator, may download them (audited). They are kept
    sealed for a limited time: after that the answer is 410 `errors_file_expired`."""
    job = get_job(session, actor, job_id)
    require(actor, "imports", "create")
    if actor.id != job.actor_id and actor.role != "admin":
        raise PermissionDenied(
            message="only the person who ran the import or an administrator may download its refused rows",
            key="problem.import.errors_not_yours",
            extra={"resource": "imports", "action": "read"},
        )
    if job.errors_path and files.errors_expired(job):
        days = get_settings().import_errors_retention_days
        raise ErrorsFileExpired(
            message=f"import {job_id}: errors file expired (refused rows are kept for {days} days); "
            "run the file again to see them",
            key="problem.import.errors_expired",
            params={"job_id": job_id, "days": days},
            extra={"expired_at": (job.errors_purged_at or job.errors_expires_at or clock.now()).isoformat()},
        )
    rows = files.refused_rows(job)
    if rows is None:
        raise NotFound(
            message=f"import {job_id} has no refused rows",
            key="problem.import.no_refused_rows",
            params={"job_id": job_id},
        )
    audit.record(session, actor, "import.errors_download", entity_type="import_job", entity_id=job_id)
    return rows


def discard_upload(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


# Saved mappings ---------------------------------------------------------------------------------


def list_mappings(session: Session, actor: Principal, kind: str | None = None) -> list[SavedMapping]:
    require(actor, "imports", "read")
    stmt = select(SavedMapping).order_by(SavedMapping.name)
    if kind:
        stmt = stmt.where(SavedMapping.kind == kind)
    return list(session.scalars(stmt))


def get_mapping(session: Session, actor: Principal, mapping_id: str) -> SavedMapping:
    require(actor, "imports", "read")
    row = session.get(SavedMapping, mapping_id)
    if row is None:
        raise NotFound(
            message=f"mapping {mapping_id} not found",
            key="problem.import.mapping_not_found",
            params={"mapping_id": mapping_id},
        )
    return row


def mapping_by_name(session: Session, actor: Principal, name: str) -> SavedMapping | None:
    require(actor, "imports", "read")
    return session.scalar(select(SavedMapping).where(SavedMapping.name == name))


def _check_name(name: str) -> str:
    text = name.strip()
    if not 1 <= len(text) <= 100:
        raise ImportRefused(
            message="name: 1 to 100 characters",
            errors=[
                FieldError("name", "1 to 100 characters", "invalid", params={"max": 100}, key="problem.length_range")
            ],
        )
    return text


def save_mapping(session: Session, actor: Principal, *, name: str, mapping: Mapping) -> SavedMapping:
    require(actor, "imports", "create")
    text = _check_name(name)
    if session.scalar(select(SavedMapping.id).where(SavedMapping.name == text)) is not None:
        raise Conflict(message=f"a mapping named {text} exists", errors=[FieldError("name", "is taken", "taken")])
    row = SavedMapping(name=text, kind=mapping.kind, mapping=mapping.as_dict(), created_by=actor.id)
    session.add(row)
    session.flush()
    audit.record(session, actor, "import.mapping.create", entity_type="import_mapping", entity_id=row.id)
    return row


def update_mapping(
    session: Session, actor: Principal, mapping_id: str, *, name: str | None, mapping: Mapping | None
) -> SavedMapping:
    require(actor, "imports", "create")
    row = get_mapping(session, actor, mapping_id)
    fields: list[str] = []
    if name is not None and _check_name(name) != row.name:
        text = _check_name(name)
        if session.scalar(select(SavedMapping.id).where(SavedMapping.name == text)) is not None:
            raise Conflict(message=f"a mapping named {text} exists", errors=[FieldError("name", "is taken", "taken")])
        row.name = text
        fields.append("name")
    if mapping is not None and mapping.as_dict() != row.mapping:
        row.kind = mapping.kind
        row.mapping = mapping.as_dict()
        fields.append("mapping")
    if fields:
        row.updated_at = clock.now()
        session.flush()
        audit.record(
            session, actor, "import.mapping.update", entity_type="import_mapping", entity_id=row.id, fields=fields
        )
    return row


def delete_mapping(session: Session, actor: Principal, mapping_id: str) -> None:
    require(actor, "imports", "create")
    row = get_mapping(session, actor, mapping_id)
    session.delete(row)
    session.flush()
    audit.record(session, actor, "import.mapping.delete", entity_type="import_mapping", entity_id=mapping_id)


def resolve_mapping(session: Session, actor: Principal, ref: str, kind: str) -> Mapping:
    """A mapping given as a JSON file path or the name of a saved mapping."""
    path = Path(ref)
    if path.suffix.lower() == ".json" or path.exists():
        try:
            data = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise InvalidMapping(
                message=f"cannot read mapping file {ref}: {exc.strerror}",
                key="problem.import.mapping_unreadable",
                params={"ref": ref, "reason": exc.strerror},
            ) from None
        return parse_mapping(data, kind)
    saved = mapping_by_name(session, actor, ref)
    if saved is None:
        raise InvalidMapping(
            message=f"no mapping file or saved mapping named {ref}",
            key="problem.import.no_mapping",
            params={"ref": ref},
        )
    return parse_mapping(saved.mapping, kind)
