"""Writing import files and running import jobs for the dataio tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guanxi.dataio import service
from guanxi.dataio.files import RefusedRows
from guanxi.dataio.mappings import Mapping
from guanxi.dataio.models import ImportJob
from guanxi.kit import sealed
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM, Principal
from tests.api.helpers import table_counts

# Tables a run writes whatever happens: the job row itself and its audit records.
BOOKKEEPING = {"import_jobs", "audit_records", "audit_chain_head"}


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def run_import(
    db: Database,
    kind: str,
    path: Path,
    *,
    actor: Principal = SYSTEM,
    mapping: Mapping | None = None,
    dry_run: bool = False,
    options: dict[str, Any] | None = None,
) -> ImportJob:
    with db.unit_of_work() as session:
        job = service.create_job(
            session, actor, kind=kind, file_name=path.name, path=path, mapping=mapping, dry_run=dry_run, options=options
        )
        job_id = job.id
    return service.run_job(db, job_id)


def data_counts(db: Database) -> dict[str, int]:
    return {k: v for k, v in table_counts(db).items() if k not in BOOKKEEPING}


def error_lines(job: ImportJob) -> list[str]:
    """The refused rows as the importer's user gets them (the file on disk is sealed)."""
    assert job.errors_path is not None
    assert sealed.is_sealed(Path(job.errors_path))
    return RefusedRows(job.id, Path(job.errors_path)).read().decode("utf-8-sig").splitlines()
