"""HTTP API for segments, tag rules and tag history (parse, call the service, shape the answer).

A segment's snapshot and a tag rule's full refresh go over every customer: they are background
runs, started by POST /segments/{id}/snapshot and POST /tag-rules/{id}/run in `jobs.api`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel

from guanxi.auth.deps import CurrentPrincipal
from guanxi.customers import service as customer_service
from guanxi.customers import tag_history
from guanxi.kit.listing import Cursor, Limit, page_of
from guanxi.kit.web import DbSession, Paging, in_worker_thread
from guanxi.marketing import conditions, segments, tag_rules
from guanxi.marketing.schemas import (
    MemberPage,
    Preview,
    PreviewIn,
    SegmentCount,
    SegmentIn,
    SegmentOut,
    SegmentPage,
    SegmentUpdate,
    TagHistoryOut,
    TagRuleIn,
    TagRuleOut,
    TagRuleUpdate,
)

router = APIRouter(tags=["segments"])

SegmentId = Annotated[str, Path(min_length=1, max_length=26, description="Segment id")]
RuleId = Annotated[str, Path(min_length=1, max_length=26, description="Tag rule id")]
CustomerId = Annotated[str, Path(min_length=1, max_length=26, description="Customer id")]


@router.get("/segments/fields")
@in_worker_thread
def segment_fields(
    principal: CurrentPrincipal,
    lang: Annotated[str, Query(pattern="^(zh-CN|en)$")] = "zh-CN",
) -> list[dict[str, Any]]:
    """The fields a condition may test, their operators, value types and choices."""
    segments.require(principal, "segments", "read")
    return conditions.fields_catalog(lang)


@router.post("/segments/preview", response_model=Preview)
@in_worker_thread
def preview(body: PreviewIn, session: DbSession, principal: CurrentPrincipal) -> Preview:
    """Count and a masked sample of an unsaved definition, in the caller's scope."""
    return segments.preview(session, principal, body.conditions, sample=body.sample)


@router.post("/segments", response_model=SegmentOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_segment(body: SegmentIn, session: DbSession, principal: CurrentPrincipal, response: Response) -> SegmentOut:
    segment = segments.create_segment(session, principal, body)
    response.headers["Location"] = f"/api/v1/segments/{segment.id}"
    return segments.segment_out(segment)


@router.get("/segments", response_model=SegmentPage)
@in_worker_thread
def list_segments(session: DbSession, principal: CurrentPrincipal, paging: Paging) -> SegmentPage:
    page = segments.list_segments(session, principal, paging)
    return SegmentPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/segments/{segment_id}", response_model=SegmentOut)
@in_worker_thread
def get_segment(segment_id: SegmentId, session: DbSession, principal: CurrentPrincipal) -> SegmentOut:
    return segments.segment_out(segments.get_segment(session, principal, segment_id))


@router.patch("/segments/{segment_id}", response_model=SegmentOut)
@in_worker_thread
def update_segment(
    segment_id: SegmentId, body: SegmentUpdate, session: DbSession, principal: CurrentPrincipal
) -> SegmentOut:
    return segments.segment_out(segments.update_segment(session, principal, segment_id, body))


@router.delete("/segments/{segment_id}", status_code=status.HTTP_204_NO_CONTENT)
@in_worker_thread
def delete_segment(segment_id: SegmentId, session: DbSession, principal: CurrentPrincipal) -> None:
    segments.delete_segment(session, principal, segment_id)


@router.get("/segments/{segment_id}/count", response_model=SegmentCount)
@in_worker_thread
def count_segment(segment_id: SegmentId, session: DbSession, principal: CurrentPrincipal) -> SegmentCount:
    return SegmentCount(segment_id=segment_id, count=segments.count_segment(session, principal, segment_id))


@router.get("/segments/{segment_id}/members", response_model=MemberPage)
@in_worker_thread
def segment_members(
    segment_id: SegmentId,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor from the previous page")] = None,
) -> MemberPage:
    page = segments.members(session, principal, segment_id, limit=limit, cursor=cursor)
    return MemberPage(items=page.items, next_cursor=page.next_cursor)


class TagRulePage(BaseModel):
    items: list[TagRuleOut]
    next_cursor: str | None


@router.get("/tag-rules", response_model=TagRulePage, tags=["tag rules"])
@in_worker_thread
def list_rules(
    session: DbSession, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> TagRulePage:
    """Tag rules by code."""
    page = page_of(tag_rules.list_rules(session, principal), lambda rule: rule.code, limit, cursor)
    return TagRulePage(items=[tag_rules.rule_out(r) for r in page.items], next_cursor=page.next_cursor)


@router.post("/tag-rules", response_model=TagRuleOut, status_code=status.HTTP_201_CREATED, tags=["tag rules"])
@in_worker_thread
def create_rule(body: TagRuleIn, session: DbSession, principal: CurrentPrincipal, response: Response) -> TagRuleOut:
    """Create a rule; an active rule tags its matches at once."""
    rule = tag_rules.create_rule(session, principal, body)
    response.headers["Location"] = f"/api/v1/tag-rules/{rule.id}"
    return tag_rules.rule_out(rule)


@router.get("/tag-rules/{rule_id}", response_model=TagRuleOut, tags=["tag rules"])
@in_worker_thread
def get_rule(rule_id: RuleId, session: DbSession, principal: CurrentPrincipal) -> TagRuleOut:
    return tag_rules.rule_out(tag_rules.get_rule(session, principal, rule_id))


@router.patch("/tag-rules/{rule_id}", response_model=TagRuleOut, tags=["tag rules"])
@in_worker_thread
def update_rule(rule_id: RuleId, body: TagRuleUpdate, session: DbSession, principal: CurrentPrincipal) -> TagRuleOut:
    return tag_rules.rule_out(tag_rules.update_rule(session, principal, rule_id, body))


@router.delete("/tag-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["tag rules"])
@in_worker_thread
def delete_rule(rule_id: RuleId, session: DbSession, principal: CurrentPrincipal) -> None:
    tag_rules.delete_rule(session, principal, rule_id)


@router.get("/customers/{customer_id}/tag-history", response_model=list[TagHistoryOut], tags=["customers"])
@in_worker_thread
def customer_tag_history(
    customer_id: CustomerId,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[TagHistoryOut]:
    """Every tag added to or removed from the customer, newest first, with source and actor."""
    segments.require(principal, "tags", "read")
    customer = customer_service.get_customer(session, principal, customer_id)
    return [TagHistoryOut.model_validate(r) for r in tag_history.for_customer(session, customer.id, limit=limit)]
