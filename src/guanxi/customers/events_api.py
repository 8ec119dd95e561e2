"""HTTP API for behaviour events and the event-type registry."""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from guanxi.auth.deps import CurrentPrincipal
from guanxi.customers import event_types, events
from guanxi.customers.event_schema import EventTypeSpec
from guanxi.kit import group_commit
from guanxi.kit.inputs import PatchInput
from guanxi.kit.listing import Cursor, Limit, page_of
from guanxi.kit.principal import Principal
from guanxi.kit.text import StorableInput
from guanxi.kit.web import DbSession, in_worker_thread

router = APIRouter(tags=["events"])

TypeCode = Annotated[str, Path(min_length=1, max_length=40, description="Event type code")]
PropertyType = Annotated[str, Field(pattern="^(string|number|integer|boolean|datetime)$")]


class EventBatchIn(StorableInput):
    model_config = ConfigDict(extra="forbid")
    # Each event's text and properties are checked one by one (EventIn); a partial batch keeps
    # the good ones.
    checked_per_item: ClassVar[frozenset[str]] = frozenset({"events"})
    events: list[Any] = Field(description=f"1 to {events.MAX_BATCH} events (see EventIn)")


class Problem(BaseModel):
    field: str
    message: str
    code: str


class EventResultOut(BaseModel):
    index: int
    event_id: str | None
    status: str = Field(description="accepted | duplicate | rejected")
    customer_id: str | None
    errors: list[Problem] = Field(default_factory=list)
    warnings: list[Problem] = Field(default_factory=list)


class IngestOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    identities_linked: int
    stitched: int = Field(description="earlier anonymous events now attributed to a customer")
    merges: list[str] = Field(description="merges the batch caused (strong identifiers tied two customers)")
    results: list[EventResultOut]


class EventTypeOut(BaseModel):
    code: str
    label_zh: str
    label_en: str
    properties: dict[str, str]
    required: list[str]
    retention_days: int | None
    builtin: bool
    active: bool


class EventTypeCreate(StorableInput):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=40)
    label_zh: str = Field(min_length=1, max_length=60)
    label_en: str = Field(min_length=1, max_length=60)
    properties: dict[str, PropertyType] = Field(default_factory=dict, max_length=50)
    required: list[str] = Field(default_factory=list, max_length=50)
    retention_days: int | None = None


class EventTypeUpdate(PatchInput):
    model_config = ConfigDict(extra="forbid")
    clearable: ClassVar[frozenset[str]] = frozenset({"retention_days"})  # null: kept for good
    label_zh: str | None = Field(default=None, min_length=1, max_length=60)
    label_en: str | None = Field(default=None, min_length=1, max_length=60)
    properties: dict[str, PropertyType] | None = Field(default=None, max_length=50)
    required: list[str] | None = Field(default=None, max_length=50)
    retention_days: int | None = None
    active: bool | None = None


def _type_out(spec: EventTypeSpec) -> EventTypeOut:
    return EventTypeOut(
        code=spec.code,
        label_zh=spec.label_zh,
        label_en=spec.label_en,
        properties=spec.properties,
        required=list(spec.required),
        retention_days=spec.retention_days,
        builtin=spec.builtin,
        active=spec.active,
    )


def _problem_dicts(items: list[Any]) -> list[dict[str, str]]:
    return [{"field": e.field, "message": e.message, "code": e.code} for e in items]


def ingest_answer(result: events.IngestResult) -> Response:
    """`IngestOut` as JSON, written directly: a model per event, validated and then serialized
    again, cost more than storing the event. Same fields in the same order as the model."""
    body = {
        "accepted": result.count("accepted"),
        "duplicates": result.count("duplicate"),
        "rejected": result.count("rejected"),
        "identities_linked": result.linked,
        "stitched": result.stitched,
        "merges": list(result.merges),
        "results": [
            {
                "index": r.index,
                "event_id": r.event_id,
                "status": r.status,
                "customer_id": r.customer_id,
                "errors": _problem_dicts(r.errors) if r.errors else [],
                "warnings": _problem_dicts(r.warnings) if r.warnings else [],
            }
            for r in result.results
        ],
    }
    content = json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
    return Response(content.encode("utf-8"), media_type="application/json")


async def _writer_principal(principal: CurrentPrincipal, session: DbSession) -> Principal:
    """The caller, once the request's own unit of work (which may have read the credential) has
    ended: the group-commit writer stores the events."""
    await group_commit.end_request_unit_of_work(session)
    return principal


@router.post("/events", response_model=IngestOut)
async def ingest_events(
    body: EventBatchIn,
    principal: Annotated[Principal, Depends(_writer_principal)],
    partial: Annotated[
        bool, Query(description="store the valid events and report the invalid ones, instead of refusing the batch")
    ] = False,
) -> Response:
    """Record behaviour events. Idempotent by event_id: a repeated id is reported as a duplicate."""
    result = await group_commit.call(lambda session: events.ingest(session, principal, body.events, partial=partial))
    return ingest_answer(result)


class EventTypePage(BaseModel):
    items: list[EventTypeOut]
    next_cursor: str | None


def _builtin_first(spec: EventTypeSpec) -> str:
    return f"{0 if spec.builtin else 1}:{spec.code}"


@router.get("/event-types", response_model=EventTypePage)
@in_worker_thread
def list_event_types(
    session: DbSession, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> EventTypePage:
    """The built-in event types, then the custom ones, each by code."""
    page = page_of(event_types.list_types(session, principal), _builtin_first, limit, cursor)
    return EventTypePage(items=[_type_out(spec) for spec in page.items], next_cursor=page.next_cursor)


@router.get("/event-types/{code}", response_model=EventTypeOut)
@in_worker_thread
def get_event_type(code: TypeCode, session: DbSession, principal: CurrentPrincipal) -> EventTypeOut:
    return _type_out(event_types.get_type(session, principal, code))


@router.post("/event-types", response_model=EventTypeOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_event_type(body: EventTypeCreate, session: DbSession, principal: CurrentPrincipal) -> EventTypeOut:
    """Register a custom event type with its property schema."""
    return _type_out(event_types.create_type(session, principal, body.model_dump()))


@router.patch("/event-types/{code}", response_model=EventTypeOut)
@in_worker_thread
def update_event_type(
    code: TypeCode, body: EventTypeUpdate, session: DbSession, principal: CurrentPrincipal
) -> EventTypeOut:
    """Retention and on/off for any type; labels and added properties for custom types."""
    return _type_out(event_types.update_type(session, principal, code, body.model_dump(exclude_unset=True)))
