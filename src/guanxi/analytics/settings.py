"""The brand's analytics settings: what the next run computes with.

Kept as one validated document (`AnalyticsSettingsIn`); a run reads it when it starts
(`options_for`). Changing it is an administrator's (analytics:update) and is audited; the next run
uses it, earlier snapshots keep what they were computed with (the run's report names the values).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from guanxi.analytics.lifecycle import LifecycleSettings
from guanxi.analytics.models import AnalyticsSettings
from guanxi.analytics.rfm import PRESETS, SEGMENTS, STANDARD_MAP, SegmentRule
from guanxi.analytics.scoring import Options
from guanxi.auth.service import require
from guanxi.kit.principal import Principal
from guanxi.kit.text import StorableInput
from guanxi.privacy import audit

ROW = 1
Preset = Literal["balanced", "fmcg", "durables", "b2b"]


class AnalyticsSettingsIn(StorableInput):
    model_config = ConfigDict(extra="forbid")

    rfm_window_days: int = Field(default=365, ge=30, le=1095, description="Days of purchases the RFM scores read")
    rfm_preset: Preset = Field(default="balanced", description="Weights of R, F and M in the RFM score")
    segment_rules: list[SegmentRule] | None = Field(
        default=None,
        max_length=40,
        description="The R×F(×M) map, first match wins; null for the standard map. Segments are the standard ones",
    )
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    clv_months: int = Field(default=12, ge=1, le=60, description="The CLV horizon")
    monthly_discount: float = Field(default=0.01, ge=0, le=0.2, description="Discount rate per month")
    margin: float = Field(default=1.0, gt=0, le=1, description="Share of spend that is margin (1: CLV in revenue)")

    @model_validator(mode="after")
    def _known_segments(self) -> AnalyticsSettingsIn:
        unknown = sorted({r.segment for r in self.segment_rules or ()} - {*SEGMENTS, "other"})
        if unknown:
            raise ValueError(f"segment_rules: unknown segments {', '.join(unknown)} (use the standard segments)")
        return self


def current(session: Session) -> AnalyticsSettingsIn:
    row = session.get(AnalyticsSettings, ROW)
    return AnalyticsSettingsIn.model_validate(row.values) if row else AnalyticsSettingsIn()


def get_settings(session: Session, actor: Principal) -> AnalyticsSettingsIn:
    require(actor, "analytics", "read")
    return current(session)


def update_settings(session: Session, actor: Principal, values: AnalyticsSettingsIn) -> AnalyticsSettingsIn:
    require(actor, "analytics", "update")
    before = current(session)
    row = session.get(AnalyticsSettings, ROW)
    document = values.model_dump(mode="json")
    if row is None:
        session.add(AnalyticsSettings(id=ROW, values=document, updated_by=actor.id))
    else:
        row.values = document
        row.updated_by = actor.id
    session.flush()
    changed = sorted(k for k, v in document.items() if before.model_dump(mode="json").get(k) != v)
    audit.record(session, actor, "analytics.settings.update", entity_type="analytics_settings", fields=changed)
    return values


def options_for(settings: AnalyticsSettingsIn, as_of: date) -> Options:
    return Options(
        as_of=as_of,
        window_days=settings.rfm_window_days,
        preset=settings.rfm_preset,
        segment_rules=tuple(settings.segment_rules) if settings.segment_rules else STANDARD_MAP,
        lifecycle=settings.lifecycle,
        clv_months=settings.clv_months,
        monthly_discount=settings.monthly_discount,
        margin=settings.margin,
    )


def describe(settings: AnalyticsSettingsIn) -> dict[str, Any]:
    """What a run's report says it computed with."""
    data = settings.model_dump(mode="json")
    data["rfm_weights"] = vars(PRESETS[settings.rfm_preset])
    data["segment_rules"] = "standard" if settings.segment_rules is None else data["segment_rules"]
    return data
