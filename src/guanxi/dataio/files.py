"""The files an import or export leaves on disk, and how long they stay.

- An upload (API, console) lives in `GUANXI_HOME/imports/<job id>/`, owner-only, and is deleted
  as soon as its job ends, whether it succeeded or failed. A file the CLI imports from the
  operator's own disk is theirs, never deleted.
- The refused rows are written sealed (`kit.sealed`, AES-256-GCM, bound to the job) and kept for
  `GUANXI_IMPORT_ERRORS_RETENTION_DAYS` (7), then purged; the job row says so and a download
  answers "errors file expired".
- Exports are written to `GUANXI_HOME/exports/` only while they are sent, then deleted.
- The purge (hourly on the worker, `guanxi import purge` on demand) deletes expired refused rows,
  and whatever a crash left: uploads of ended jobs, jobs that never ended (marked failed), folders
  of uploads that never became a job, and exports that were never deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.config import get_settings
from guanxi.dataio.models import ImportJob
from guanxi.dataio.refused_file import in_language
from guanxi.dataio.runner import errors_context
from guanxi.kit import clock, sealed
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.privacy import audit

ERRORS_FILE = "errors.csv"
# A job still queued or running this long after it was created was cut short (a crash, a killed
# worker): it is marked failed and its upload deleted. The largest imports measured take minutes.
INTERRUPTED_AFTER = timedelta(hours=24)
# An upload that never became a job (the console's wizard left half-way, a refused file whose
# clean-up was interrupted) is kept this long, so a wizard still open can go on.
ORPHAN_AFTER = timedelta(hours=2)
# An export file is deleted once sent; one still there after this was left by a crash.
EXPORT_AFTER = timedelta(hours=1)
INTERRUPTED = "the import was interrupted before it finished (the worker stopped); run the file again"
ENDED = ("done", "failed")


def home() -> Path:
    return get_settings().ensure_home()


def imports_dir() -> Path:
    return home() / "imports"


def job_dir(job_id: str) -> Path:
    return imports_dir() / job_id


def new_job_dir(job_id: str) -> Path:
    """The folder an upload is stored in, owner-only (it holds a customer file)."""
    folder = job_dir(job_id)
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def exports_dir() -> Path:
    folder = home() / "exports"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def retention() -> timedelta:
    return timedelta(days=get_settings().import_errors_retention_days)


def private_file(path: Path) -> IO[bytes]:
    """Create a file for writing, owner-only (0600) from the start."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def new_export_file(fmt: str) -> tuple[IO[bytes], Path]:
    """A private file for an export being written; the caller deletes it once it is sent."""
    fd, name = tempfile.mkstemp(prefix="export-", suffix=f".{fmt}", dir=exports_dir())
    return os.fdopen(fd, "wb"), Path(name)


def _is_ours(job: ImportJob) -> bool:
    """Whether the job's file is an upload we stored (in its job folder), not an operator's file."""
    return Path(job.file_path).parent == job_dir(job.id)


def end_of_job(job: ImportJob, errors_path: str | None, now: datetime) -> None:
    """When a job ends: delete its upload (and anything else in its folder but the refused rows
    it reports), and start the refused rows' retention."""
    job.errors_path = errors_path
    job.errors_expires_at = now + retention() if errors_path else None
    _tidy(job, now)


def _tidy(job: ImportJob, now: datetime) -> bool:
    """Delete what an ended job no longer needs; True when its upload was deleted now."""
    folder = job_dir(job.id)
    keep = Path(job.errors_path) if job.errors_path and job.errors_purged_at is None else None
    if folder.is_dir():
        for item in folder.iterdir():
            if item != keep:
                shutil.rmtree(item) if item.is_dir() else item.unlink(missing_ok=True)
        if keep is None:
            with contextlib.suppress(OSError):
                folder.rmdir()
    if job.upload_deleted_at is None and _is_ours(job) and not Path(job.file_path).exists():
        job.upload_deleted_at = now
        return True
    return False


@dataclass(frozen=True)
class RefusedRows:
    """A job's refused rows, opened on the way out: the CSV the importer wrote, its line and
    reason columns in the reader's language (`refused_file`)."""

    job_id: str
    path: Path
    kind: str = "customers"

    def chunks(self, language: str = "en") -> Iterator[bytes]:
        return in_language(sealed.read_chunks(self.path, errors_context(self.job_id)), self.kind, language)

    def read(self, language: str = "en") -> bytes:
        return b"".join(self.chunks(language))

    def save_as(self, target: Path, language: str = "en") -> None:
        with target.open("wb") as out:
            for chunk in self.chunks(language):
                out.write(chunk)


def errors_expired(job: ImportJob, now: datetime | None = None) -> bool:
    if job.errors_purged_at is not None:
        return True
    return job.errors_expires_at is not None and job.errors_expires_at <= (now or clock.now())


def refused_rows(job: ImportJob) -> RefusedRows | None:
    """The job's refused rows, None when it has none on disk (expired is the caller's check)."""
    if not job.errors_path:
        return None
    path = Path(job.errors_path)
    if not path.is_file():
        return None
    if not sealed.is_sealed(path):  # written before sealing existed (the migration seals them too)
        sealed.seal_in_place(path, errors_context(job.id))
    return RefusedRows(job.id, path, job.kind)


@dataclass
class PurgeReport:
    errors_files: int = 0  # expired refused-rows files deleted
    uploads: int = 0  # uploads of ended jobs a crash left behind
    interrupted: int = 0  # jobs that never ended, now marked failed
    orphans: int = 0  # folders of uploads that never became a job
    exports: int = 0  # export files a crash left behind

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def purge(database: Database, *, now: datetime | None = None) -> PurgeReport:
    """Delete expired refused rows and everything left behind; one audit record when it did anything."""
    now = now or clock.now()
    report = PurgeReport()
    with database.unit_of_work() as session:
        _purge_expired(session, report, now)
        _end_interrupted(session, report, now)
        _purge_folders(session, report, now)
        _purge_exports(report, now)
        if report.total:
            audit.record(session, SYSTEM, "import.files_purged", entity_type="import_job", detail=report.as_dict())
    return report


def _purge_expired(session: Session, report: PurgeReport, now: datetime) -> None:
    expired = session.scalars(
        select(ImportJob).where(
            ImportJob.errors_path.is_not(None),
            ImportJob.errors_purged_at.is_(None),
            ImportJob.errors_expires_at <= now,
        )
    )
    for job in expired:
        Path(str(job.errors_path)).unlink(missing_ok=True)
        job.errors_purged_at = now
        report.errors_files += 1
        _tidy(job, now)


def _end_interrupted(session: Session, report: PurgeReport, now: datetime) -> None:
    stale = session.scalars(
        select(ImportJob).where(
            ImportJob.status.in_(("queued", "running")), ImportJob.created_at < now - INTERRUPTED_AFTER
        )
    )
    for job in stale:
        job.status, job.error, job.finished_at = "failed", INTERRUPTED, now
        # Refused rows written before the interruption go with it: the job reports none.
        end_of_job(job, None, now)
        report.interrupted += 1
        audit.record(
            session,
            SYSTEM,
            "import.finish",
            entity_type="import_job",
            entity_id=job.id,
            outcome="failed",
            detail={"kind": job.kind, "dry_run": job.dry_run, "error": "interrupted"},
        )


def _newest_change(folder: Path) -> datetime:
    times = [folder.stat().st_mtime, *(item.stat().st_mtime for item in folder.iterdir())]
    return datetime.fromtimestamp(max(times), tz=clock.UTC)


def _purge_folders(session: Session, report: PurgeReport, now: datetime) -> None:
    root = imports_dir()
    if not root.is_dir():
        return
    folders = [f for f in root.iterdir() if f.is_dir()]
    names = [f.name for f in folders]
    jobs: dict[str, ImportJob] = {}
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        jobs.update({j.id: j for j in session.scalars(select(ImportJob).where(ImportJob.id.in_(chunk)))})
    for folder in folders:
        job = jobs.get(folder.name)
        if job is None:
            if now - _newest_change(folder) >= ORPHAN_AFTER:
                shutil.rmtree(folder, ignore_errors=True)
                report.orphans += 1
        elif job.status in ENDED and _tidy(job, now):
            report.uploads += 1


def _purge_exports(report: PurgeReport, now: datetime) -> None:
    for item in exports_dir().iterdir():
        changed = datetime.fromtimestamp(item.stat().st_mtime, tz=clock.UTC)
        if item.is_file() and now - changed >= EXPORT_AFTER:
            item.unlink(missing_ok=True)
            report.exports += 1
