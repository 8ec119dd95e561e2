"""Behaviour events: validate a batch, resolve who did each thing, store, stitch and tell others.

A batch is resolved with a fixed number of statements whatever its size (event ids seen before,
identities by blind index, the customers they point to), then written with one multi-row insert:
per-event round trips would cap ingestion far below what an app sends at peak.

Who did it (`identity_graph`): the event names a customer id, one or more identities and/or an
anonymous device id. Identities not yet known are linked to the customer the event resolves to,
anonymous history is stitched when an anonymous id gets linked, and two customers tied by a strong
identifier are merged. An identity held by another customer is never moved: the event says so in
its warnings and the conflict is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.config import get_settings
from guanxi.customers import event_input, event_types, identity_graph
from guanxi.customers.event_input import EventFields, IdentityFields
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.event_schema import EventTypeSpec, check_properties
from guanxi.customers.identities import NormalizedIdentity
from guanxi.customers.normalize import IdentityKind, InvalidValue, normalize_identity
from guanxi.customers.schemas import IdentityKindName
from guanxi.kit import clock, outbox
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.inputs import BusinessDateTime, FreeJSON
from guanxi.kit.models import table_of
from guanxi.kit.principal import Principal
from guanxi.kit.text import StorableInput
from guanxi.privacy import audit

MAX_BATCH = 1000
# Clocks on phones drift; an event stamped further ahead than this is a bug on the sender's side.
FUTURE_TOLERANCE = timedelta(minutes=5)
OLDEST = datetime(2000, 1, 1, tzinfo=clock.UTC)
EVENTS_RECORDED = "customer.events_recorded"

Status = Literal["accepted", "duplicate", "rejected"]


class EventIdentity(StorableInput):
    model_config = ConfigDict(extra="forbid")
    kind: IdentityKindName
    value: str = Field(min_length=1, max_length=254)
    namespace: str = Field(default="", max_length=64)
    verified: bool = False


class EventIn(StorableInput):
    """One event as an app or shop sends it."""

    model_config = ConfigDict(extra="forbid")
    event_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")
    type: str = Field(min_length=1, max_length=40)
    occurred_at: BusinessDateTime
    customer_id: str | None = Field(default=None, min_length=1, max_length=26)
    identities: list[EventIdentity] = Field(default_factory=list, max_length=5)
    anonymous_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")
    channel: str | None = Field(default=None, min_length=1, max_length=30)
    properties: FreeJSON = Field(default_factory=dict, max_length=50)


@dataclass
class ItemResult:
    index: int
    event_id: str | None
    status: Status
    customer_id: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)


@dataclass
class IngestResult:
    results: list[ItemResult]
    merges: list[str] = field(default_factory=list)  # ids of the merges this batch caused
    linked: int = 0  # identities newly linked to customers
    stitched: int = 0  # earlier anonymous events attributed to a customer

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)


def _fields_of(data: EventIn) -> EventFields:
    identities = [IdentityFields(i.kind, i.value, i.namespace, i.verified) for i in data.identities]
    return EventFields(
        data.event_id,
        data.type,
        data.occurred_at,
        data.customer_id,
        identities,
        data.anonymous_id,
        data.channel,
        data.properties,
    )


@dataclass
class ParsedEvent:
    index: int
    data: EventFields
    spec: EventTypeSpec
    identities: list[NormalizedIdentity]


def _pydantic_errors(index: int, exc: PydanticValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        path = ".".join(str(part) for part in err["loc"])
        errors.append(FieldError(f"events[{index}].{path}" if path else f"events[{index}]", err["msg"], err["type"]))
    return errors


def _parse(index: int, raw: Any, specs: dict[str, EventTypeSpec], now: datetime) -> ParsedEvent | list[FieldError]:
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        return [FieldError(where, "must be an object", "type_error", key="problem.events.not_object")]
    data = event_input.plain_event(raw)
    if data is None:  # anything unusual: the model decides, and words its errors
        try:
            data = _fields_of(EventIn.model_validate(raw))
        except PydanticValidationError as exc:
            return _pydantic_errors(index, exc)
    errors: list[FieldError] = []
    spec = specs.get(data.type)
    if spec is None:
        errors.append(
            FieldError(
                f"{where}.type",
                f"unknown event type {data.type}; register it first",
                "unknown_type",
                params={"type": data.type},
                key="problem.events.unknown_type",
            )
        )
    elif not spec.active:
        errors.append(
            FieldError(
                f"{where}.type",
                f"event type {data.type} is switched off",
                "inactive_type",
                params={"type": data.type},
                key="problem.events.inactive_type",
            )
        )
    if data.occurred_at.tzinfo is None:
        errors.append(
            FieldError(
                f"{where}.occurred_at", "must carry a time zone offset", "naive_datetime", key="problem.events.naive"
            )
        )
    elif data.occurred_at > now + FUTURE_TOLERANCE:
        errors.append(
            FieldError(f"{where}.occurred_at", "is in the future", "future_timestamp", key="problem.events.future")
        )
    elif data.occurred_at < OLDEST:
        # Not error.too_old: that phrase speaks of birthdays (130 years).
        errors.append(
            FieldError(f"{where}.occurred_at", "is before 2000-01-01", "too_old", key="problem.events.too_old")
        )
    if spec is not None:
        for name, message, code in check_properties(spec, data.properties):
            errors.append(FieldError(f"{where}.properties.{name}", message, code))
    identities = _normalize_identities(where, data, errors)
    if data.customer_id is None and not data.identities and data.anonymous_id is None:
        errors.append(
            FieldError(
                where,
                "name the customer: customer_id, identities or anonymous_id",
                "no_subject",
                key="problem.events.no_subject",
            )
        )
    if errors or spec is None:
        return errors
    return ParsedEvent(index, data, spec, identities)


# Parsing a phone number costs ~0.3 ms and a batch names the same people many times.
_normalized = lru_cache(maxsize=20_000)(normalize_identity)


def _normalize_identities(where: str, data: EventFields, errors: list[FieldError]) -> list[NormalizedIdentity]:
    region = get_settings().default_region_code
    result: list[NormalizedIdentity] = []
    for i, ident in enumerate(data.identities):
        kind = IdentityKind(ident.kind)
        label = f"{where}.identities[{i}]"
        if kind is IdentityKind.RESIDENT_ID:
            errors.append(
                FieldError(
                    f"{label}.kind",
                    "events may not carry resident ID numbers",
                    "not_allowed",
                    key="problem.events.resident_id",
                )
            )
            continue
        namespace = ident.namespace.strip() if kind in identity_graph.NAMESPACED else ""
        if kind in identity_graph.NAMESPACED and not namespace:
            errors.append(FieldError(f"{label}.namespace", f"a {kind.value} needs a namespace", "required"))
            continue
        try:
            value = _normalized(kind, ident.value, region)
        except InvalidValue as exc:
            errors.append(exc.field_error(f"{label}.value", f"invalid_{kind.value}"))
            continue
        result.append(NormalizedIdentity(f"{label}.value", kind, namespace, value, ident.verified))
    if data.anonymous_id is not None:
        anon = NormalizedIdentity(f"{where}.anonymous_id", IdentityKind.ANONYMOUS_ID, "", data.anonymous_id)
        result.append(anon)
    return result


def ingest(
    session: Session, actor: Principal, raw_events: list[Any], *, partial: bool = False, source: str = "api"
) -> IngestResult:
    """Store a batch of 1 to 1,000 events.

    Strict (default): any invalid event rejects the whole batch with every problem listed and
    nothing written. Partial: valid events are stored and each invalid one is reported.
    Events whose id was seen before are reported as duplicates and change nothing.
    """
    auth_service.require(actor, "events", "create")
    if not 1 <= len(raw_events) <= MAX_BATCH:
        raise ValidationFailed(
            message=f"events: send 1 to {MAX_BATCH} events per request, not {len(raw_events)}",
            errors=[
                FieldError(
                    "events",
                    f"send 1 to {MAX_BATCH} events per request",
                    "batch_size",
                    {"max": MAX_BATCH},
                    key="problem.events.batch_size",
                )
            ],
        )
    now = clock.now()
    specs = event_types.registry(session)
    results: list[ItemResult] = []
    parsed: list[ParsedEvent] = []
    for index, raw in enumerate(raw_events):
        outcome = _parse(index, raw, specs, now)
        if isinstance(outcome, ParsedEvent):
            parsed.append(outcome)
            results.append(ItemResult(index, outcome.data.event_id, "accepted"))
        else:
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            results.append(
                ItemResult(index, event_id if isinstance(event_id, str) else None, "rejected", errors=outcome)
            )
    rejected = [e for r in results for e in r.errors]
    if rejected and not partial:
        shown = "; ".join(f"{e.field}: {e.message}" for e in rejected[:5])
        more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
        raise ValidationFailed(
            message=f"{len(rejected)} problem(s) in the batch, nothing stored: {shown}{more}", errors=rejected
        )

    unique = _first_of_each_id(parsed, results)
    known = _ingest_plain(session, actor, unique, results, now, source)
    if known is not None:
        return known
    fresh = _drop_duplicates(session, unique, results)
    resolution = identity_graph.resolve(session, fresh, results)
    unattributed = [e for item in fresh for e in results[item.index].errors]
    if unattributed and not partial:
        shown = "; ".join(f"{e.field}: {e.message}" for e in unattributed[:5])
        raise ValidationFailed(
            message=f"{len(unattributed)} event(s) name nobody known, nothing stored: {shown}", errors=unattributed
        )
    identity_graph.apply(session, actor, resolution)
    rows = _rows(fresh, results, resolution.customer_of, now, source)
    for item in fresh:
        results[item.index].customer_id = resolution.customer_of.get(item.index)
    if rows:
        rows = _insert_new(session, rows, fresh, results)
    stitched = identity_graph.stitch(session, resolution.new_anonymous_links)
    result = IngestResult(results, resolution.merges, resolution.linked, stitched)
    _announce(session, actor, result, rows, source)
    return result


def _ingest_plain(
    session: Session,
    actor: Principal,
    unique: list[ParsedEvent],
    results: list[ItemResult],
    now: datetime,
    source: str,
) -> IngestResult | None:
    """The usual batch, written without looking for stored ids first: every event resolves to a
    known customer (or stays anonymous) and the batch links, merges and conflicts with nothing.
    The insert skips the ids already stored and answers them as duplicates, exactly as if they had
    been looked up. A batch that would write more than its events returns None, untouched, and
    takes the general path, where a repeated event changes nothing at all."""
    resolution = identity_graph.resolve(session, unique, results)
    plan = resolution.plan
    if plan.links or plan.merges or plan.conflicts or any(results[i.index].status != "accepted" for i in unique):
        for item in unique:  # as they were before `resolve`: the general path decides afresh
            reset = results[item.index]
            reset.status, reset.errors, reset.warnings = "accepted", [], []
        return None
    rows = _rows(unique, results, resolution.customer_of, now, source)
    for item in unique:
        results[item.index].customer_id = resolution.customer_of.get(item.index)
    if rows:
        rows = _insert_new(session, rows, unique, results)
    result = IngestResult(results)
    _announce(session, actor, result, rows, source)
    return result


def _first_of_each_id(parsed: list[ParsedEvent], results: list[ItemResult]) -> list[ParsedEvent]:
    """An id repeated within the batch: its first event counts, the later ones are duplicates."""
    seen: set[str] = set()
    unique: list[ParsedEvent] = []
    for item in parsed:
        if item.data.event_id in seen:
            results[item.index].status = "duplicate"
            continue
        seen.add(item.data.event_id)
        unique.append(item)
    return unique


def _rows(
    items: list[ParsedEvent],
    results: list[ItemResult],
    customer_of: dict[int, str | None],
    now: datetime,
    source: str,
) -> list[dict[str, Any]]:
    default_channel = source if source != "api" else None
    return [
        {
            "event_id": item.data.event_id,
            "type": item.data.type,
            "customer_id": customer_of.get(item.index),
            "anonymous_id": item.data.anonymous_id,
            "channel": item.data.channel or default_channel,
            "occurred_at": item.data.occurred_at,
            "received_at": now,
            "properties": item.data.properties,
        }
        for item in items
        if results[item.index].status == "accepted"
    ]


def _insert_new(
    session: Session, rows: list[dict[str, Any]], fresh: list[ParsedEvent], results: list[ItemResult]
) -> list[dict[str, Any]]:
    """One multi-row insert that skips ids already stored (by an earlier request, or by another
    request a moment ago): those are answered as duplicates, not a 500."""
    table = table_of(CustomerEvent)
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).on_conflict_do_nothing(index_elements=["event_id"]).returning(table.c.event_id)
    stored = set(session.scalars(stmt, rows))
    if len(stored) == len(rows):
        return rows
    for item in fresh:
        result = results[item.index]
        if result.status == "accepted" and item.data.event_id not in stored:
            result.status, result.customer_id, result.warnings = "duplicate", None, []
    return [row for row in rows if row["event_id"] in stored]


def _refuse_batch(errors: list[FieldError]) -> None:
    """Strict mode: one bad event refuses the batch, listing every problem."""
    if not errors:
        return
    shown = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    message = f"{len(errors)} problem(s) in the batch, nothing stored: {shown}{more}"
    raise ValidationFailed(message=message, errors=errors)


def _drop_duplicates(session: Session, parsed: list[ParsedEvent], results: list[ItemResult]) -> list[ParsedEvent]:
    """Events whose id is already stored, or repeated earlier in the batch, change nothing."""
    ids = [item.data.event_id for item in parsed]
    seen: set[str] = set()
    if ids:
        events = table_of(CustomerEvent)
        seen = set(session.scalars(select(events.c.event_id).where(events.c.event_id.in_(ids))))
    fresh: list[ParsedEvent] = []
    for item in parsed:
        if item.data.event_id in seen:
            results[item.index].status = "duplicate"
            continue
        seen.add(item.data.event_id)
        fresh.append(item)
    return fresh


def _announce(
    session: Session, actor: Principal, result: IngestResult, rows: list[dict[str, Any]], source: str
) -> None:
    customers = sorted({r["customer_id"] for r in rows if r["customer_id"]})
    accepted = result.count("accepted")
    if accepted or result.linked or result.merges:
        audit.record(
            session,
            actor,
            "events.ingested",
            entity_type="event_batch",
            detail={
                "source": source,
                "accepted": accepted,
                "duplicates": result.count("duplicate"),
                "rejected": result.count("rejected"),
                "customers": len(customers),
                "identities_linked": result.linked,
                "stitched": result.stitched,
                "merges": result.merges,
            },
        )
    if customers:
        types = sorted({r["type"] for r in rows})
        outbox.emit(session, EVENTS_RECORDED, {"customer_ids": customers, "types": types})
