"""What imports leave on disk: the upload goes when the job ends, the refused rows stay sealed for
the retention period and are then purged, and the purge clears whatever a crash left behind."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from guanxi.config import reset_settings
from guanxi.dataio import files, runner, service
from guanxi.dataio.models import ImportJob
from guanxi.jobs import queue
from guanxi.kit import clock, sealed
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.api.helpers import audit_records

from .support import data_counts

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BAD = "姓名,手机号,城市\n张伟,13800138000,上海\n王芳,12345,广州\n"
REFUSED = ["line,姓名,手机号,城市,error", "3,王芳,12345,广州,phone: is not a valid phone number (got '12345')"]


@pytest.fixture(autouse=True)
def frozen_clock() -> Any:
    with clock.frozen(NOW) as frozen:
        yield frozen


def _upload(text: str, name: str = "members.csv") -> tuple[str, Path]:
    """A file stored as the API and the console store an upload."""
    job_id = service.new_id()
    path = service.new_job_dir(job_id) / name
    with files.private_file(path) as out:
        out.write(text.encode())
    return job_id, path


def _run(db: Database, job_id: str, path: Path) -> ImportJob:
    with db.unit_of_work() as session:
        service.create_job(session, SYSTEM, kind="customers", file_name=path.name, path=path, job_id=job_id)
    return service.run_job(db, job_id)


def _job(db: Database, job_id: str) -> ImportJob:
    with db.unit_of_work(read_only=True) as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        session.expunge(job)
        return job


def _age(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_the_upload_is_deleted_when_the_job_is_done_and_the_refused_rows_stay_sealed(db: Database) -> None:
    job_id, upload = _upload(BAD)
    job = _run(db, job_id, upload)
    assert (job.status, job.created, job.rejected) == ("done", 1, 1)
    assert not upload.exists()
    assert job.upload_deleted_at == NOW
    errors = Path(str(job.errors_path))
    assert sorted(p.name for p in errors.parent.iterdir()) == ["errors.csv"]
    assert job.errors_expires_at == NOW + timedelta(days=7)
    assert job.errors_purged_at is None
    raw = errors.read_bytes()
    assert sealed.is_sealed(errors)
    assert "王芳".encode() not in raw and b"12345" not in raw and "广州".encode() not in raw
    assert stat.S_IMODE(errors.stat().st_mode) == 0o600
    assert stat.S_IMODE(errors.parent.stat().st_mode) == 0o700
    with db.unit_of_work() as session:
        rows = service.errors_file(session, SYSTEM, job_id)
        assert rows.read().decode("utf-8-sig").splitlines() == REFUSED


def test_the_upload_is_deleted_when_the_job_fails(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id, upload = _upload(BAD)

    def crash(*args: Any, **kwargs: Any) -> Any:
        # Refused rows written before the failure are not the job's to offer: they go too.
        errors = runner.ErrorsFile(kwargs["errors_path"], ["姓名"], runner.errors_context(job_id))
        errors.write(2, {"姓名": "王芳"}, "refused")
        errors.close()
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runner, "run", crash)
    job = _run(db, job_id, upload)
    assert job.status == "failed"
    assert (job.errors_path, job.errors_expires_at, job.upload_deleted_at) == (None, None, NOW)
    assert not service.job_dir(job_id).exists()


def test_a_clean_job_leaves_no_folder(db: Database) -> None:
    job_id, upload = _upload("姓名,手机号\n张伟,13800138000\n")
    job = _run(db, job_id, upload)
    assert (job.status, job.errors_path, job.upload_deleted_at) == ("done", None, NOW)
    assert not service.job_dir(job_id).exists()


def test_the_retention_is_a_setting(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUANXI_IMPORT_ERRORS_RETENTION_DAYS", "2")
    reset_settings()
    job_id, upload = _upload(BAD)
    assert _run(db, job_id, upload).errors_expires_at == NOW + timedelta(days=2)


def test_expired_refused_rows_are_refused_then_purged_and_the_job_says_so(db: Database) -> None:
    job_id, upload = _upload(BAD)
    errors = Path(str(_run(db, job_id, upload).errors_path))
    with clock.frozen(NOW + timedelta(days=7) - timedelta(seconds=1)):
        assert files.purge(db).total == 0
        with db.unit_of_work() as session:
            assert service.errors_file(session, SYSTEM, job_id).read().decode("utf-8-sig").splitlines() == REFUSED
    later = NOW + timedelta(days=7)
    with clock.frozen(later):
        # Past its time it is refused at once, before any purge ran.
        with db.unit_of_work() as session, pytest.raises(service.ErrorsFileExpired) as refused:
            service.errors_file(session, SYSTEM, job_id)
        assert refused.value.status == 410
        assert "errors file expired" in refused.value.message
        before = data_counts(db)
        report = files.purge(db)
    assert report.as_dict() == {"errors_files": 1, "uploads": 0, "interrupted": 0, "orphans": 0, "exports": 0}
    assert not errors.exists() and not errors.parent.exists()
    job = _job(db, job_id)
    assert (job.errors_purged_at, job.status, job.rejected) == (later, "done", 1)
    assert data_counts(db) == before
    (record,) = audit_records(db, "import.files_purged")
    assert record.detail == report.as_dict()
    with db.unit_of_work() as session, pytest.raises(service.ErrorsFileExpired):
        service.errors_file(session, SYSTEM, job_id)
    assert files.purge(db).total == 0  # nothing left to do, nothing audited
    assert len(audit_records(db, "import.files_purged")) == 1


def test_the_purge_clears_what_a_crash_left(db: Database) -> None:
    # A job that ended, but the process died before its upload was deleted.
    ended_id, ended_upload = _upload(BAD)
    _run(db, ended_id, ended_upload)
    with files.private_file(ended_upload) as out:
        out.write(BAD.encode())
    with db.unit_of_work() as session:
        job = session.get(ImportJob, ended_id)
        assert job is not None
        job.upload_deleted_at = None
    # Jobs that never ended: one created 25 hours ago (the worker was killed), one 1 hour ago.
    stale_id, stale_upload = _upload(BAD)
    recent_id, recent_upload = _upload(BAD)
    for job_id, path, created in ((stale_id, stale_upload, 25), (recent_id, recent_upload, 1)):
        with db.unit_of_work() as session:
            service.create_job(session, SYSTEM, kind="customers", file_name=path.name, path=path, job_id=job_id)
            job = session.get(ImportJob, job_id)
            assert job is not None
            job.status, job.created_at = "running", NOW - timedelta(hours=created)
    # Uploads that never became a job (a wizard left half-way): one old, one still in use.
    old_orphan = service.new_job_dir(service.new_id())
    (old_orphan / "left.csv").write_text(BAD)
    _age(old_orphan / "left.csv", NOW - timedelta(hours=3))
    _age(old_orphan, NOW - timedelta(hours=3))
    new_orphan = service.new_job_dir(service.new_id())
    (new_orphan / "in-use.csv").write_text(BAD)
    _age(new_orphan / "in-use.csv", NOW - timedelta(minutes=5))
    _age(new_orphan, NOW - timedelta(minutes=5))
    # An export whose response never finished, and one being sent now.
    old_export_handle, old_export = files.new_export_file("csv")
    old_export_handle.close()
    _age(old_export, NOW - timedelta(hours=2))
    new_export_handle, new_export = files.new_export_file("xlsx")
    new_export_handle.close()
    _age(new_export, NOW - timedelta(minutes=1))

    report = files.purge(db)
    assert report.as_dict() == {"errors_files": 0, "uploads": 1, "interrupted": 1, "orphans": 1, "exports": 1}
    assert not ended_upload.exists()
    assert _job(db, ended_id).upload_deleted_at == NOW
    assert Path(str(_job(db, ended_id).errors_path)).exists()  # its refused rows keep their time
    stale = _job(db, stale_id)
    assert (stale.status, stale.error, stale.finished_at, stale.upload_deleted_at) == (
        "failed",
        files.INTERRUPTED,
        NOW,
        NOW,
    )
    assert not service.job_dir(stale_id).exists()
    recent = _job(db, recent_id)
    assert (recent.status, recent.upload_deleted_at) == ("running", None)
    assert recent_upload.exists()
    assert not old_orphan.exists() and new_orphan.exists()
    assert not old_export.exists() and new_export.exists()
    (finish,) = [r for r in audit_records(db, "import.finish") if r.entity_id == stale_id]
    assert (finish.outcome, finish.detail["error"]) == ("failed", "interrupted")


def test_a_file_imported_from_the_operators_disk_is_never_deleted(db: Database, tmp_path: Path) -> None:
    own = tmp_path / "mine.csv"
    own.write_text(BAD, encoding="utf-8")
    with db.unit_of_work() as session:
        job_id = service.create_job(session, SYSTEM, kind="customers", file_name=own.name, path=own).id
    job = service.run_job(db, job_id)
    assert (job.status, job.upload_deleted_at) == ("done", None)
    with clock.frozen(NOW + timedelta(days=30)):
        files.purge(db)
    assert own.read_text(encoding="utf-8") == BAD


def test_legacy_clear_refused_rows_are_sealed_before_they_are_served(db: Database) -> None:
    job_id, upload = _upload(BAD)
    errors = Path(str(_run(db, job_id, upload).errors_path))
    clear = "\ufeff" + "\r\n".join(REFUSED) + "\r\n"
    errors.write_bytes(clear.encode("utf-8"))  # as written before refused rows were sealed
    with db.unit_of_work() as session:
        assert service.errors_file(session, SYSTEM, job_id).read() == clear.encode("utf-8")
    assert sealed.is_sealed(errors)
    assert "王芳".encode() not in errors.read_bytes()


def test_the_worker_purges_every_hour(db: Database) -> None:
    due = {task.name for task in queue.huey.read_periodic(datetime(2026, 11, 20, 3, 35))}
    assert "import_files_purge" in due
    assert "import_files_purge" not in {task.name for task in queue.huey.read_periodic(datetime(2026, 11, 20, 3, 36))}
    job_id, upload = _upload(BAD)
    _run(db, job_id, upload)
    with clock.frozen(NOW + timedelta(days=8)):
        assert queue.import_files_purge.call_local() == {
            "errors_files": 1,
            "uploads": 0,
            "interrupted": 0,
            "orphans": 0,
            "exports": 0,
        }
    assert _job(db, job_id).errors_purged_at == NOW + timedelta(days=8)
