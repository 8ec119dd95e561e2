"""What the analytics write back to the operational database.

The warehouse (DuckDB, `analytics.warehouse`) holds the copies of orders and customers and the
dated snapshots of every run; the operational database keeps only what the rest of the product
reads at request time: each customer's current scores (segments, tag rules, the customer page,
the API), the brand's targets and the retention worklist.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Numeric, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, BigId, TimestampMixin, public_id_column


class CustomerScore(Base):
    """One customer's scores from the latest analytics run that could compute them.

    A score the run could not compute (too little data, a model that did not converge) is null,
    and the previous value stays when the run skipped the whole model. Customers who refused
    profiling have no row."""

    __tablename__ = "analytics_customer_scores"
    __table_args__ = (
        Index("ix_analytics_scores_segment", "rfm_segment"),
        Index("ix_analytics_scores_stage", "lifecycle_stage"),
        Index("ix_analytics_scores_tier", "value_tier"),
    )

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    run_id: Mapped[str] = mapped_column(String(26))
    recency_days: Mapped[int | None] = mapped_column(default=None)
    frequency: Mapped[int] = mapped_column(default=0)
    monetary: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    r_score: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    f_score: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    m_score: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    rfm_score: Mapped[float | None] = mapped_column(Float, default=None)
    rfm_segment: Mapped[str | None] = mapped_column(String(30), default=None)
    lifecycle_stage: Mapped[str | None] = mapped_column(String(20), default=None)
    lifecycle_since: Mapped[date | None] = mapped_column(Date, default=None)
    value_tier: Mapped[str | None] = mapped_column(String(20), default=None)
    clv: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    p_alive: Mapped[float | None] = mapped_column(Float, default=None)
    expected_purchases: Mapped[float | None] = mapped_column(Float, default=None)
    churn_risk: Mapped[float | None] = mapped_column(Float, default=None)
    churn_probability: Mapped[float | None] = mapped_column(Float, default=None)
    churn_band: Mapped[str | None] = mapped_column(String(10), default=None)
    churn_reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    cluster: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    cluster_name: Mapped[str | None] = mapped_column(String(60), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Target(TimestampMixin, Base):
    """A goal the brand set for a KPI, with the baseline measured when it was set."""

    __tablename__ = "analytics_targets"

    id: Mapped[str] = public_id_column()
    metric: Mapped[str] = mapped_column(String(40))
    # "change": reach baseline × (1 + value/100); "at_least" / "at_most": reach the value itself
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    baseline: Mapped[Decimal | None] = mapped_column(Numeric(18, 4), default=None)
    baseline_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64))


class RetentionItem(TimestampMixin, Base):
    """A customer on the retention worklist: entered when the churn warning crossed its threshold,
    worked by the owner, and closed by what the customer did next (came back or not)."""

    __tablename__ = "analytics_retention_items"
    __table_args__ = (
        Index("ix_analytics_retention_owner_status", "owner_id", "status"),
        Index("ix_analytics_retention_customer", "customer_id", "status"),
    )

    id: Mapped[str] = public_id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    owner_id: Mapped[str | None] = mapped_column(String(26), default=None)
    entered_on: Mapped[date] = mapped_column(Date)
    risk: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # open → contacted → won_back | lost; won_back and lost are set by a later run
    status: Mapped[str] = mapped_column(String(20), default="open")
    contacted_at: Mapped[datetime | None] = mapped_column(default=None)
    contacted_by: Mapped[str | None] = mapped_column(String(64), default=None)
    outcome_on: Mapped[date | None] = mapped_column(Date, default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class PlaybookLaunch(Base):
    """A playbook action launched on an RFM segment's members, kept so its effect can be measured."""

    __tablename__ = "analytics_playbook_launches"

    id: Mapped[str] = public_id_column()
    segment: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(30))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    members: Mapped[int] = mapped_column(default=0)
    run_id: Mapped[str | None] = mapped_column(String(26), default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class StageChange(Base):
    """A customer moved from one lifecycle stage to another in a run (shown on the 360 timeline)."""

    __tablename__ = "analytics_stage_changes"
    __table_args__ = (Index("ix_analytics_stage_changes_customer", "customer_id", "as_of"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    as_of: Mapped[date] = mapped_column(Date)
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    run_id: Mapped[str] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class AnalyticsSettings(Base):
    """The brand's analytics settings (one row): the RFM window, weights and map, the lifecycle
    thresholds, the CLV horizon. Absent until an administrator changes a default."""

    __tablename__ = "analytics_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
