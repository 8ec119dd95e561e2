"""Background runs: one row per long piece of work started by a person (a simulation, a bulk
issuance, an export), so the request that asked for it answers at once and the console can
follow its progress and show its result later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, public_id_column


class BackgroundRun(Base):
    __tablename__ = "background_runs"

    id: Mapped[str] = public_id_column()
    # What runs (a key of jobs.runs' registry: it names the work and the permission to read it).
    kind: Mapped[str] = mapped_column(String(40), index=True)
    # queued | running | done | failed
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    # Progress as steps done out of a total the work announces (none until it knows).
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None] = mapped_column(default=None)
    # Who asked: the work runs with their permissions and scope.
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    actor_name: Mapped[str] = mapped_column(String(100))
    actor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The work's report, as JSON, once done.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # A stable code and a message (the code is translated for the reader where one is known).
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    # Touched by each progress report: a running row that stopped moving long ago lost its worker.
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
