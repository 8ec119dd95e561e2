"""Import jobs (one row per file imported or dry-run) and saved column mappings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, public_id_column


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[str] = public_id_column()
    kind: Mapped[str] = mapped_column(String(20))  # customers | orders | events
    file_name: Mapped[str] = mapped_column(String(255))
    file_path: Mapped[str] = mapped_column(Text)
    file_format: Mapped[str] = mapped_column(String(10))
    file_size: Mapped[int] = mapped_column(default=0)
    # queued | running | done | failed
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    dry_run: Mapped[bool] = mapped_column(default=False)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Who asked: the job runs with their permissions and scope.
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    actor_name: Mapped[str] = mapped_column(String(100))
    actor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rows_read: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    # Rows naming what an earlier row of the file named, with the same values: not refused.
    repeated: Mapped[int] = mapped_column(default=0, server_default="0")
    # Rows that differ from a known customer's non-empty values, held back (not applied).
    conflicts: Mapped[int] = mapped_column(default=0, server_default="0")
    # Warnings by kind, a sample of field-level changes and conflicts, the history choice's figures.
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    # The most frequent rejection reasons: {reason: count}.
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The refused rows, sealed (kit.sealed) and kept until `errors_expires_at`; the purge then
    # deletes the file and sets `errors_purged_at` (the job answers "errors file expired").
    errors_path: Mapped[str | None] = mapped_column(Text, default=None)
    errors_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    errors_purged_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the uploaded file was deleted: as the job ended, or by the purge after a crash. Files an
    # operator imports from their own disk (CLI) are never ours to delete and keep this empty.
    upload_deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SavedMapping(Base):
    """A column mapping kept for the next file from the same source (CLI `--mapping NAME`, console)."""

    __tablename__ = "import_mappings"

    id: Mapped[str] = public_id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
