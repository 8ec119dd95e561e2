"""Customer merges (with what each one moved, so an undo is exact) and probable duplicates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, BigId, public_id_column

MERGE_REASONS = ("unionid", "verified_phone", "manual", "duplicate_review")


class CustomerMerge(Base):
    """One customer (`merged`) folded into another (`survivor`).

    `survivor_before` keeps the survivor's profile values that the survivorship rules changed, so
    an undo puts them back; `merged_before` the merged customer's own state (deleted_at)."""

    __tablename__ = "customer_merges"
    __table_args__ = (
        Index("ix_customer_merges_survivor_created", "survivor_id", "created_at"),
        Index("ix_customer_merges_merged_created", "merged_id", "created_at"),
        Index("ix_customer_merges_created", "created_at"),
    )

    id: Mapped[str] = public_id_column()
    survivor_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    merged_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    # unionid | verified_phone | manual | duplicate_review
    reason: Mapped[str] = mapped_column(String(20))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # merged | undone
    status: Mapped[str] = mapped_column(String(10), default="merged")
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(100))
    # {field: value before the merge} for every survivor field the merge changed.
    survivor_before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {field: value after the merge}: an undo refuses if staff changed the field since.
    survivor_after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What each participant did, counted ({"identities": 2, "loyalty.points": 300, ...}).
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    candidate_id: Mapped[str | None] = mapped_column(String(26), default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    undone_at: Mapped[datetime | None] = mapped_column(default=None)
    undone_by: Mapped[str | None] = mapped_column(String(64), default=None)


class MergeMove(Base):
    """One row a merge changed: `column` of row `row_key` in `table_name` went from `old_value`
    to `new_value` (action "moved"), or the row was removed because the survivor already had its
    twin (action "removed", `data` holds the row to put back), or a participant's own record
    (action "custom", `data` is what its undo needs)."""

    __tablename__ = "customer_merge_moves"
    __table_args__ = (Index("ix_customer_merge_moves_merge_id", "merge_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merge_id: Mapped[str] = mapped_column(ForeignKey("customer_merges.id"))
    participant: Mapped[str] = mapped_column(String(40))
    table_name: Mapped[str] = mapped_column(String(64))
    # The row's primary key: one value, or a JSON object for composite keys.
    row_key: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(10), default="moved")
    column: Mapped[str | None] = mapped_column(String(64), default=None)
    old_value: Mapped[Any] = mapped_column(JSON, default=None, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON, default=None, nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class DuplicateCandidate(Base):
    """A probable pair of records for the same person, found by the duplicate detection job.
    The pair is ordered (`customer_a_id` < `customer_b_id`), so each pair is stored once."""

    __tablename__ = "customer_duplicate_candidates"
    __table_args__ = (
        UniqueConstraint("customer_a_id", "customer_b_id"),
        Index("ix_customer_duplicate_candidates_status_score", "status", "score"),
        Index("ix_customer_duplicate_candidates_b", "customer_b_id"),
    )

    id: Mapped[str] = public_id_column()
    customer_a_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    customer_b_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    # splink's match probability (0..1) and match weight (log2 Bayes factor).
    score: Mapped[float] = mapped_column(Float)
    match_weight: Mapped[float] = mapped_column(Float, default=0.0)
    # Which fields agreed: {"name": "pinyin", "birthday": "exact", "phone": "tail", ...}
    matched: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # open | merged | dismissed
    status: Mapped[str] = mapped_column(String(10), default="open")
    merge_id: Mapped[str | None] = mapped_column(String(26), default=None)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
