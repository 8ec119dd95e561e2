"""API shapes for segments, tag rules and tag history.

`conditions` is taken as plain JSON here and validated by `marketing.conditions.parse` in the
service, so every problem names its path (`conditions.groups[0].rules[1].value`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from guanxi.customers.schemas import CustomerOut
from guanxi.kit.inputs import DefinitionJSON, PatchInput
from guanxi.kit.text import StorableInput

Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Description = Annotated[str, StringConstraints(max_length=1000, strip_whitespace=True)]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=40, strip_whitespace=True)]
RuleCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,39}$")]
SegmentKind = Literal["dynamic", "static"]


class _Input(StorableInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SegmentIn(_Input):
    name: Name
    description: Description | None = None
    kind: SegmentKind = "dynamic"
    conditions: DefinitionJSON


class SegmentUpdate(_Input, PatchInput):
    clearable: ClassVar[frozenset[str]] = frozenset({"description"})
    name: Name | None = None
    description: Description | None = None
    conditions: DefinitionJSON | None = None


class PreviewIn(_Input):
    conditions: DefinitionJSON
    sample: int = Field(default=20, ge=0, le=50)


class SegmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str | None
    kind: str
    conditions: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    snapshot_at: datetime | None
    snapshot_count: int | None


class SegmentPage(BaseModel):
    items: list[SegmentOut]
    next_cursor: str | None


class Preview(BaseModel):
    count: int
    sample: list[CustomerOut]


class SegmentCount(BaseModel):
    segment_id: str
    count: int


class MemberPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class SegmentRef(BaseModel):
    id: str
    name: str
    kind: str


class TagRuleIn(_Input):
    code: RuleCode
    tag: TagName
    description: Description | None = None
    active: bool = True
    conditions: DefinitionJSON


class TagRuleUpdate(_Input, PatchInput):
    clearable: ClassVar[frozenset[str]] = frozenset({"description"})
    tag: TagName | None = None
    description: Description | None = None
    active: bool | None = None
    conditions: DefinitionJSON | None = None


class TagRuleOut(BaseModel):
    id: str
    code: str
    tag: str
    description: str | None
    active: bool
    conditions: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    last_run_at: datetime | None
    last_matched: int | None
    last_added: int | None
    last_removed: int | None


class RunResult(BaseModel):
    rule: str
    tag: str
    matched: int
    added: int
    removed: int


class TagHistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tag: str
    action: str
    source: str
    actor_id: str
    occurred_at: datetime
