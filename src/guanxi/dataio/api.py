"""HTTP API for imports (upload -> background job -> progress, counts, refused rows), saved column
mappings, and what a customer export takes (`ExportIn`; the export itself is a background run:
`jobs.api`)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from guanxi.auth.deps import CurrentPrincipal
from guanxi.config import get_settings
from guanxi.dataio import files, service
from guanxi.dataio.models import ImportJob, SavedMapping
from guanxi.kit import i18n
from guanxi.kit.db import get_database
from guanxi.kit.errors import FieldError
from guanxi.kit.ids import new_id
from guanxi.kit.inputs import BusinessDateTime, FreeJSON, PatchInput
from guanxi.kit.listing import Cursor, Limit, page_of
from guanxi.kit.pagination import PageRequest
from guanxi.kit.text import StorableInput
from guanxi.kit.web import DbSession, in_worker_thread

router = APIRouter(tags=["imports"])
JobId = Annotated[str, PathParam(min_length=1, max_length=26, description="Import job id")]
MappingId = Annotated[str, PathParam(min_length=1, max_length=26, description="Saved mapping id")]


class ImportJobOut(BaseModel):
    id: str
    kind: str
    file_name: str
    file_format: str
    file_size: int
    status: str
    dry_run: bool
    progress: float
    rows_read: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    duplicates: int
    repeated: int = Field(description="Rows naming what an earlier row named, with the same values (not refused)")
    conflicts: int = Field(description="Rows that differ from a known customer's values, held back")
    reasons: dict[str, Any]
    report: dict[str, Any] = Field(
        description="warnings by kind; `problems`: every refusal's and warning's field, stable code, catalog "
        "parameters and English message with its count (docs/import.md); a sample of field-level changes and "
        "conflicts; the history choice's figures"
    )
    options: dict[str, Any] = Field(description="The job's choices (e.g. history)")
    error: str | None
    errors_file: str | None = Field(description="Where to download the refused rows (CSV), if any")
    errors_expires_at: datetime | None = Field(description="When the refused rows are deleted")
    errors_file_expired: bool = Field(description="The refused rows were kept for their time and are deleted")
    actor_name: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportJobList(BaseModel):
    items: list[ImportJobOut]
    next_cursor: str | None


class MappingIn(StorableInput):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    mapping: FreeJSON


class MappingPatch(PatchInput):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    mapping: FreeJSON | None = None


class MappingOut(BaseModel):
    id: str
    name: str
    kind: str
    mapping: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime


class ExportIn(StorableInput):
    model_config = ConfigDict(extra="forbid")
    format: Literal["csv", "xlsx"] = "csv"
    segment_id: str | None = Field(default=None, max_length=26)
    q: str | None = Field(default=None, max_length=100)
    city: str | None = Field(default=None, max_length=40)
    province: str | None = Field(default=None, max_length=40)
    region: str | None = Field(default=None, max_length=40)
    gender: str | None = Field(default=None, max_length=10)
    tag: str | None = Field(default=None, max_length=40)
    owner_id: str | None = Field(default=None, max_length=26)
    source_channel: str | None = Field(default=None, max_length=30)
    member_no: str | None = Field(default=None, max_length=20)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    created_from: BusinessDateTime | None = None
    created_to: BusinessDateTime | None = None


def _options(kind: str, award_points: bool, history: str) -> dict[str, Any]:
    options: dict[str, Any] = {"award_points": True} if award_points else {}
    if kind == "orders" or history != "record":
        options["history"] = history  # refused by the service for other kinds
    return options


def job_out(job: ImportJob) -> ImportJobOut:
    expired = files.errors_expired(job)
    return ImportJobOut(
        id=job.id,
        kind=job.kind,
        file_name=job.file_name,
        file_format=job.file_format,
        file_size=job.file_size,
        status=job.status,
        dry_run=job.dry_run,
        progress=job.progress,
        rows_read=job.rows_read,
        created=job.created,
        updated=job.updated,
        unchanged=job.unchanged,
        rejected=job.rejected,
        duplicates=job.duplicates,
        repeated=job.repeated or 0,
        conflicts=job.conflicts or 0,
        reasons=job.reasons or {},
        report=job.report or {},
        options=job.options or {},
        error=job.error,
        errors_file=f"/api/v1/imports/{job.id}/errors" if job.errors_path and not expired else None,
        errors_expires_at=job.errors_expires_at,
        errors_file_expired=bool(job.errors_path) and expired,
        actor_name=job.actor_name,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def mapping_out(row: SavedMapping) -> MappingOut:
    return MappingOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        mapping=row.mapping,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _safe_name(name: str) -> str:
    base = Path(name or "upload").name
    return re.sub(r"[^\w.\-]", "_", base)[:120] or "upload"


def _store_upload(upload: UploadFile, job_id: str) -> Path:
    """Copy the upload to the job's folder in chunks, refusing it past the size limit."""
    limit = get_settings().max_upload_bytes
    target = service.new_job_dir(job_id) / _safe_name(upload.filename or "upload")
    size = 0
    with files.private_file(target) as out:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                out.close()
                service.discard_upload(target)
                raise service.FileTooLarge(
                    message=f"the file is larger than {limit} bytes",
                    errors=[
                        FieldError(
                            "file",
                            f"larger than {limit} bytes",
                            "file_too_large",
                            params={"limit": limit},
                            key="problem.import.file_too_large",
                        )
                    ],
                )
            out.write(chunk)
    return target


@router.post("/imports", response_model=ImportJobOut, status_code=status.HTTP_202_ACCEPTED)
@in_worker_thread
def create_import(
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK), XLSX or JSONL")],
    kind: Annotated[str, Form(max_length=20, description="customers, orders or events")],
    mapping: Annotated[str | None, Form(max_length=100_000, description="Mapping JSON")] = None,
    mapping_id: Annotated[str | None, Form(max_length=26, description="A saved mapping")] = None,
    dry_run: Annotated[bool, Form()] = False,
    award_points: Annotated[bool, Form(description="Orders: post through the order service")] = False,
    history: Annotated[
        Literal["record", "tiers", "points"],
        Form(
            description="Orders: record (history only), tiers (growth value and tiers rebuilt, no points)"
            " or points (points as if live, dated to each order)"
        ),
    ] = "record",
) -> ImportJobOut:
    """Upload a file to import; the job runs in the background (poll GET /imports/{id})."""
    service.require_import(principal, kind)
    parsed = None
    if mapping:
        parsed = service.parse_mapping(mapping, kind)
    elif mapping_id:
        parsed = service.parse_mapping(service.get_mapping(session, principal, mapping_id).mapping, kind)
    job_id = new_id()
    path = _store_upload(file, job_id)
    try:
        job = service.create_job(
            session,
            principal,
            kind=kind,
            file_name=file.filename or path.name,
            path=path,
            mapping=parsed,
            dry_run=dry_run,
            options=_options(kind, award_points, history),
            job_id=job_id,
        )
    except Exception:
        service.discard_upload(path)
        raise
    service.launch(session, job.id, get_database())
    response.headers["Location"] = f"/api/v1/imports/{job.id}"
    return job_out(job)


@router.get("/imports", response_model=ImportJobList)
@in_worker_thread
def list_imports(
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
) -> ImportJobList:
    """Imports, newest first."""
    page = service.page_jobs(session, principal, PageRequest(limit=limit, cursor=cursor), kind=kind)
    return ImportJobList(items=[job_out(j) for j in page.items], next_cursor=page.next_cursor)


class MappingPage(BaseModel):
    items: list[MappingOut]
    next_cursor: str | None


@router.get("/imports/mappings", response_model=MappingPage)
@in_worker_thread
def list_mappings(
    session: DbSession,
    principal: CurrentPrincipal,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> MappingPage:
    """Saved column mappings, by name."""
    page = page_of(service.list_mappings(session, principal, kind), _by_name, limit, cursor)
    return MappingPage(items=[mapping_out(m) for m in page.items], next_cursor=page.next_cursor)


def _by_name(mapping: SavedMapping) -> str:
    return f"{mapping.name}\x1f{mapping.id}"  # names may repeat across kinds; the id breaks ties


@router.post("/imports/mappings", response_model=MappingOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_mapping(body: MappingIn, session: DbSession, principal: CurrentPrincipal, response: Response) -> MappingOut:
    kind = str(body.mapping.get("kind", ""))
    service.check_kind(kind)
    row = service.save_mapping(session, principal, name=body.name, mapping=service.parse_mapping(body.mapping, kind))
    response.headers["Location"] = f"/api/v1/imports/mappings/{row.id}"
    return mapping_out(row)


@router.get("/imports/mappings/{mapping_id}", response_model=MappingOut)
@in_worker_thread
def get_mapping(mapping_id: MappingId, session: DbSession, principal: CurrentPrincipal) -> MappingOut:
    return mapping_out(service.get_mapping(session, principal, mapping_id))


@router.put("/imports/mappings/{mapping_id}", response_model=MappingOut)
@in_worker_thread
def update_mapping(
    mapping_id: MappingId, body: MappingPatch, session: DbSession, principal: CurrentPrincipal
) -> MappingOut:
    parsed = None
    if body.mapping is not None:
        kind = str(body.mapping.get("kind", ""))
        service.check_kind(kind)
        parsed = service.parse_mapping(body.mapping, kind)
    return mapping_out(service.update_mapping(session, principal, mapping_id, name=body.name, mapping=parsed))


@router.delete("/imports/mappings/{mapping_id}", status_code=status.HTTP_204_NO_CONTENT)
@in_worker_thread
def delete_mapping(mapping_id: MappingId, session: DbSession, principal: CurrentPrincipal) -> Response:
    service.delete_mapping(session, principal, mapping_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/imports/{job_id}", response_model=ImportJobOut)
@in_worker_thread
def get_import(job_id: JobId, session: DbSession, principal: CurrentPrincipal) -> ImportJobOut:
    return job_out(service.get_job(session, principal, job_id))


@router.get(
    "/imports/{job_id}/errors",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, 410: {"description": "The refused rows expired (deleted)"}},
)
@in_worker_thread
def import_errors(
    job_id: JobId, request: Request, session: DbSession, principal: CurrentPrincipal
) -> StreamingResponse:
    """The refused rows: the line number, the file's columns and the reason (UTF-8 CSV), opened
    from their encrypted copy as they are sent. The line and reason columns are titled, and each
    reason said, in the `Accept-Language` (English: `line`, `error` and the importers' sentence).
    410 `errors_file_expired` once their time is up."""
    rows = service.errors_file(session, principal, job_id)
    return StreamingResponse(
        rows.chunks(i18n.normalize_language(request.headers.get("accept-language"))),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="import-{job_id}-errors.csv"',
            "Vary": "Accept-Language",
        },
    )


ExportLanguage = Annotated[
    Literal["zh-CN", "en"] | None,
    Query(
        description="A report for people in this language: translated column titles, display names, local "
        "times, typed XLSX cells and the member's tier, points, orders and spend. Without it, the "
        "machine-readable layout: field names, stored codes, ISO 8601 times in UTC (docs/export.md)."
    ),
]
