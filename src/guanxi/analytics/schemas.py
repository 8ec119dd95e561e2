"""Input and output shapes of the analytics API: playbooks, the retention worklist, targets and
the dashboards' figures (which carry no personal data)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from guanxi.customers.schemas import ChurnReasonOut
from guanxi.kit.inputs import BusinessDate, PatchInput
from guanxi.kit.text import StorableInput

Metric = Literal[
    "churn_rate",
    "repeat_rate",
    "high_value_repeat_rate",
    "clv_average",
    "aov",
    "retention_rate",
    "data_accuracy",
    "nps",
    "satisfaction",
]
TargetKind = Literal["change", "at_least", "at_most"]
TargetStatus = Literal["on_track", "behind", "reached", "not_measured"]
RetentionStatus = Literal["open", "contacted", "won_back", "lost"]
# A goal's value: bounded here so no number the database cannot hold reaches it; each metric's own
# range is the service's (`targets.RANGES`).
TargetValue = Decimal


class _Input(StorableInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- playbooks ---------------------------------------------------------------------------------


class PlaybookOut(BaseModel):
    segment: str
    name: str = Field(description="The segment's name in the caller's language")
    members: int = Field(description="The segment's current members within the caller's scope")
    suggestion: str = Field(description="What to do, in the caller's language")
    actions: list[str] = Field(description="The actions this playbook suggests first: coupon, tag, call_list")


class PlaybookPage(BaseModel):
    items: list[PlaybookOut]
    next_cursor: str | None = None


class CouponLaunchIn(_Input):
    template_id: str = Field(min_length=1, max_length=26, description="The coupon template to issue")


class TagLaunchIn(_Input):
    tag: str = Field(min_length=1, max_length=40, description="The tag to add to every member")


class CallListIn(_Input):
    language: Literal["zh-CN", "en"] | None = Field(
        default=None, description="The language of the file's headings and reasons (default: the caller's)"
    )


class LaunchOut(BaseModel):
    id: str
    segment: str
    action: str
    parameters: dict[str, Any]
    members: int = Field(description="Members when the launch was started")
    run_id: str | None
    created_by: str
    created_at: datetime


class LaunchPage(BaseModel):
    items: list[LaunchOut]
    next_cursor: str | None


# -- retention ---------------------------------------------------------------------------------


class RetentionItemOut(BaseModel):
    id: str
    customer_id: str
    member_no: str | None
    name: str | None = Field(description="As the caller's role sees it")
    owner_id: str | None
    entered_on: date
    risk: float
    reasons: list[ChurnReasonOut]
    status: RetentionStatus
    contacted_at: datetime | None
    contacted_by: str | None
    outcome_on: date | None
    note: str | None


class RetentionPage(BaseModel):
    items: list[RetentionItemOut]
    next_cursor: str | None


class ContactedIn(_Input):
    note: str | None = Field(default=None, max_length=2000, description="What was said")


class RetentionSummaryOut(BaseModel):
    entered: int
    open: int
    contacted: int = Field(description="Items whose customer was contacted, whatever came of it")
    won_back: int
    lost: int
    win_back_rate_contacted: float | None = Field(description="Won back / closed, among the contacted")
    win_back_rate_not_contacted: float | None = Field(description="Won back / closed, among those never contacted")


# -- targets -----------------------------------------------------------------------------------


class TargetIn(_Input):
    metric: Metric
    kind: TargetKind
    value: TargetValue = Field(
        ge=Decimal("-1000000000"),
        le=Decimal("1000000000"),
        max_digits=18,
        decimal_places=4,
        description="A change in % for kind change; the value to reach otherwise (rates as shares 0-1)",
    )
    deadline: BusinessDate
    note: str = Field(default="", max_length=200)


class TargetUpdate(PatchInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: TargetKind | None = None
    value: TargetValue | None = Field(
        default=None, ge=Decimal("-1000000000"), le=Decimal("1000000000"), max_digits=18, decimal_places=4
    )
    deadline: BusinessDate | None = None
    note: str | None = Field(default=None, max_length=200)


class TargetOut(BaseModel):
    id: str
    metric: Metric
    metric_name: str
    kind: TargetKind
    value: Decimal
    baseline: Decimal | None
    baseline_on: date
    deadline: date
    note: str
    goal: Decimal | None = Field(description="The value to reach")
    current: Decimal | None
    expected: Decimal | None = Field(description="Where a straight line from the baseline to the goal is today")
    status: TargetStatus
    status_name: str
    created_by: str


class TargetPage(BaseModel):
    items: list[TargetOut]
    next_cursor: str | None


# -- the dashboards' figures -------------------------------------------------------------------


class Figures(BaseModel):
    """Rows of a figure, each an object of its columns (no personal data)."""

    rows: list[dict[str, Any]]


class MigrationOut(BaseModel):
    from_date: date
    to_date: date
    segments_from: list[str]
    segments_to: list[str]
    counts: list[list[int]] = Field(description="counts[i][j]: customers from segments_from[i] to segments_to[j]")


class RecommendationsOut(BaseModel):
    customer_id: str
    rows: list[dict[str, Any]]
