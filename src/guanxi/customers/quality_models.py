"""Data-quality snapshots: the report as each scheduled check found it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, BigId


class QualitySnapshot(Base):
    """The data-quality report as the scheduled check found it."""

    __tablename__ = "data_quality_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    taken_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    taken_by: Mapped[str] = mapped_column(String(64))
    customers: Mapped[int] = mapped_column(Integer)
    average_score: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
