"""Segments: saved audiences over the condition language, dynamic (re-evaluated on every read) or
static (the member list taken at a moment).

Every read applies the actor's row scope: two people reading the same segment see the members
each may see. Counts and samples are single statements (see `marketing.compiler`); samples and
member pages are presented through the customers presenter, masked per role, and a full view is
audited as a reveal, as the customer list does.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Select, delete, func, insert, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth import service as auth_service
from guanxi.customers import event_types as event_type_registry
from guanxi.customers import identities as identity_store
from guanxi.customers import presenter
from guanxi.customers import service as customer_service
from guanxi.customers.models import Customer, CustomerTag
from guanxi.customers.repository import scope_clause
from guanxi.customers.schemas import CustomerOut
from guanxi.kit import clock, i18n
from guanxi.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from guanxi.kit.masking import Visibility
from guanxi.kit.models import UTCDateTime, table_of
from guanxi.kit.pagination import Page, PageRequest, make_page, paginate
from guanxi.kit.principal import Principal
from guanxi.marketing import compiler
from guanxi.marketing.conditions import ConditionError, Group, event_types, parse
from guanxi.marketing.models import Segment, SegmentMember
from guanxi.marketing.schemas import (
    Preview,
    SegmentIn,
    SegmentOut,
    SegmentRef,
    SegmentUpdate,
)
from guanxi.privacy import audit

log = logging.getLogger(__name__)
require = auth_service.require
SAMPLE_MAX = 50
SORTS = {"created_at": Segment.created_at, "name": Segment.name, "updated_at": Segment.updated_at}


# ---------------------------------------------------------------- definitions


def _problem_key(code: str) -> str | None:
    """The catalog message of a condition problem's code; None for Pydantic's own types, which
    the field message phrases by their type."""
    key = f"segments.problem.{code}"
    return key if key in i18n.catalog("en") else None


def parse_definition(session: Session, raw: Any, *, root: str = "conditions") -> Group:
    """Validate a definition: its shape and values (pure), then the event types it names exist."""
    try:
        group = parse(raw, root=root)
    except ConditionError as exc:
        # The catalog's sentence for each problem's code, the one the segment builder shows too.
        errors = [FieldError(p.path, p.message, p.code, key=_problem_key(p.code)) for p in exc.problems]
        raise ValidationFailed(message=str(exc), errors=errors) from None
    wanted = event_types(group)
    if wanted:
        known = set(event_type_registry.registry(session))
        errors = [
            FieldError(
                f"{rule.path}.value",
                f"unknown event type {rule.value!r}",
                "unknown_event_type",
                key="segments.problem.unknown_event_type",
            )
            for rule in group.leaves()
            if rule.spec.kind == "event" and rule.value not in known
        ]
        if errors:
            raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    return group


def count_matching(session: Session, ids: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(ids.subquery())) or 0)


def present(session: Session, actor: Principal, customer_ids: list[str]) -> list[CustomerOut]:
    """Customers (in the given order) as the actor may see them; a full view is a reveal."""
    if not customer_ids:
        return []
    rows = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))}
    ordered = [rows[cid] for cid in customer_ids if cid in rows]
    idents = identity_store.for_customers(session, [c.id for c in ordered])
    tags: dict[str, list[str]] = {c.id: [] for c in ordered}
    for cid, tag in session.execute(
        select(CustomerTag.customer_id, CustomerTag.tag)
        .where(CustomerTag.customer_id.in_(list(tags)))
        .order_by(CustomerTag.tag)
    ):
        tags[cid].append(tag)
    vis = permissions.visibility(actor)
    if vis is Visibility.FULL:
        audit.record(
            session,
            actor,
            "customer.reveal",
            entity_type="customer",
            entity_id=ordered[0].id if len(ordered) == 1 else None,
            fields=["phone", "email", "address"],
            detail=None if len(ordered) == 1 else {"customers": len(ordered)},
        )
    return [presenter.customer_out(c, idents[c.id], tags[c.id], actor, visibility=vis) for c in ordered]


def _sample(session: Session, actor: Principal, ids: Select[Any], size: int) -> list[CustomerOut]:
    if size <= 0:
        return []
    chosen = list(session.scalars(ids.order_by(Customer.id.desc()).limit(min(size, SAMPLE_MAX))))
    return present(session, actor, chosen)


def preview(session: Session, actor: Principal, conditions: Any, *, sample: int = 20) -> Preview:
    """Count and a masked sample of an unsaved definition, in the actor's scope."""
    require(actor, "segments", "read")
    group = parse_definition(session, conditions)
    ids = compiler.compile_ids(group, actor)
    return Preview(count=count_matching(session, ids), sample=_sample(session, actor, ids, sample))


# ---------------------------------------------------------------- saved segments


def segment_out(segment: Segment) -> SegmentOut:
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        kind=segment.kind,
        conditions=segment.definition,
        created_by=segment.created_by,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
        snapshot_at=segment.snapshot_at,
        snapshot_count=segment.snapshot_count,
    )


def _get(session: Session, segment_id: str) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(
            message=f"segment {segment_id} not found", key="problem.not_found.segment", params={"id": segment_id}
        )
    return segment


def _name_free(session: Session, name: str, own_id: str | None = None) -> None:
    other = session.scalar(select(Segment.id).where(Segment.name == name))
    if other is not None and other != own_id:
        raise Conflict(
            message=f"a segment named {name!r} already exists",
            errors=[
                FieldError("name", "is already used by another segment", "duplicate", key="problem.segment.name_taken")
            ],
        )


def create_segment(session: Session, actor: Principal, data: SegmentIn) -> Segment:
    require(actor, "segments", "create")
    group = parse_definition(session, data.conditions)
    _name_free(session, data.name)
    segment = Segment(
        name=data.name,
        description=data.description or None,
        kind=data.kind,
        definition=data.conditions,
        created_by=actor.id,
    )
    session.add(segment)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent create took the name
        raise Conflict(
            message=f"a segment named {data.name!r} already exists",
            key="problem.segment.exists",
            params={"name": repr(data.name)},
        ) from None
    if segment.kind == "static":
        _take_snapshot(session, actor, segment, group)
    audit.record(
        session,
        actor,
        "segment.create",
        entity_type="segment",
        entity_id=segment.id,
        fields=["name", "kind", "conditions"],
        detail={"kind": segment.kind, "members": segment.snapshot_count},
    )
    return segment


def get_segment(session: Session, actor: Principal, segment_id: str) -> Segment:
    require(actor, "segments", "read")
    return _get(session, segment_id)


def list_segments(session: Session, actor: Principal, page: PageRequest) -> Page[SegmentOut]:
    require(actor, "segments", "read")
    stmt, _ = paginate(select(Segment), page, SORTS, Segment.id)
    rows = list(session.scalars(stmt))
    sort_attr = SORTS[page.sort].key
    result = make_page(rows, page, key=lambda s: (getattr(s, sort_attr), s.id))
    return Page(items=[segment_out(s) for s in result.items], next_cursor=result.next_cursor)


def count_segments(session: Session, actor: Principal) -> int:
    require(actor, "segments", "read")
    return int(session.scalar(select(func.count()).select_from(Segment)) or 0)


def update_segment(session: Session, actor: Principal, segment_id: str, patch: SegmentUpdate) -> Segment:
    require(actor, "segments", "update")
    segment = _get(session, segment_id)
    changes = patch.model_dump(exclude_unset=True)
    changed: list[str] = []
    if changes.get("name") is not None and changes["name"] != segment.name:
        _name_free(session, changes["name"], segment.id)
        segment.name = changes["name"]
        changed.append("name")
    if "description" in changes and (changes["description"] or None) != segment.description:
        segment.description = changes["description"] or None
        changed.append("description")
    if changes.get("conditions") is not None and changes["conditions"] != segment.definition:
        parse_definition(session, changes["conditions"])
        segment.definition = changes["conditions"]
        changed.append("conditions")
    if changed:
        segment.updated_at = clock.now()
        session.flush()
        audit.record(session, actor, "segment.update", entity_type="segment", entity_id=segment.id, fields=changed)
    return segment


def delete_segment(session: Session, actor: Principal, segment_id: str) -> None:
    require(actor, "segments", "delete")
    segment = _get(session, segment_id)
    session.execute(delete(SegmentMember).where(SegmentMember.segment_id == segment.id))
    session.delete(segment)
    session.flush()
    audit.record(
        session, actor, "segment.delete", entity_type="segment", entity_id=segment_id, detail={"name": segment.name}
    )


def member_ids(session: Session, actor: Principal, segment: Segment) -> Select[Any]:
    """SELECT customers.id of the segment's members the actor may see (not deleted): the
    definition evaluated now (dynamic) or the snapshot (static). For other modules (campaigns,
    exports) to build on."""
    if segment.kind == "static":
        return select(Customer.id).where(
            Customer.deleted_at.is_(None),
            scope_clause(actor, Customer),
            Customer.id.in_(select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)),
        )
    return compiler.compile_ids(parse_definition(session, segment.definition), actor)


def count_segment(session: Session, actor: Principal, segment_id: str) -> int:
    require(actor, "segments", "read")
    segment = _get(session, segment_id)
    return count_matching(session, member_ids(session, actor, segment))


def members(
    session: Session, actor: Principal, segment_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page[CustomerOut]:
    """A page of members ordered by customer id (keyset), masked per role."""
    require(actor, "segments", "read")
    require(actor, "customers", "read")
    segment = _get(session, segment_id)
    ids = member_ids(session, actor, segment).subquery()
    request = PageRequest(limit=limit, cursor=cursor, sort="id", descending=False)
    stmt, _ = paginate(
        select(Customer).where(Customer.id.in_(select(ids.c.id))), request, {"id": Customer.id}, Customer.id
    )
    rows = list(session.scalars(stmt))
    result = make_page(rows, request, key=lambda c: (c.id, c.id))
    return Page(items=present(session, actor, [c.id for c in result.items]), next_cursor=result.next_cursor)


def _take_snapshot(session: Session, actor: Principal, segment: Segment, group: Group) -> None:
    """Replace a static segment's members with the customers the definition matches now, in the
    actor's scope (one INSERT ... SELECT)."""
    now = clock.now()
    session.execute(delete(SegmentMember).where(SegmentMember.segment_id == segment.id))
    ids = compiler.compile_ids(group, actor).subquery()
    session.execute(
        insert(table_of(SegmentMember)).from_select(
            ["segment_id", "customer_id", "added_at"],
            select(literal(segment.id), ids.c.id, literal(now, UTCDateTime())),
        )
    )
    segment.snapshot_at = now
    segment.snapshot_count = int(
        session.scalar(select(func.count()).select_from(SegmentMember).where(SegmentMember.segment_id == segment.id))
        or 0
    )
    session.flush()


def snapshot(session: Session, actor: Principal, segment_id: str) -> Segment:
    """Static: take the member list again now. Dynamic: save a static copy of who matches now
    (named after the segment and the time) and return it."""
    require(actor, "segments", "create")
    segment = _get(session, segment_id)
    group = parse_definition(session, segment.definition)
    if segment.kind == "static":
        require(actor, "segments", "update")
        _take_snapshot(session, actor, segment, group)
        segment.updated_at = clock.now()
        audit.record(
            session,
            actor,
            "segment.snapshot",
            entity_type="segment",
            entity_id=segment.id,
            detail={"members": segment.snapshot_count},
        )
        return segment
    stamp = clock.now().strftime("%Y-%m-%d %H:%M:%S")
    copy = Segment(
        name=f"{segment.name[:70]} @ {stamp}",
        description=segment.description,
        kind="static",
        definition=segment.definition,
        created_by=actor.id,
    )
    _name_free(session, copy.name)
    session.add(copy)
    session.flush()
    _take_snapshot(session, actor, copy, group)
    audit.record(
        session,
        actor,
        "segment.snapshot",
        entity_type="segment",
        entity_id=copy.id,
        detail={"from": segment.id, "members": copy.snapshot_count},
    )
    return copy


def memberships(session: Session, actor: Principal, customer_id: str) -> list[SegmentRef]:
    """The saved segments this customer belongs to now (dynamic: evaluated for this customer
    only; static: in the snapshot), by name. Needs segments:read (check
    `permissions.is_allowed(actor, "segments", "read")` before calling from a page that shows
    other things too) and the customer in the actor's scope (404 otherwise)."""
    require(actor, "segments", "read")
    customer = customer_service.get_customer(session, actor, customer_id)
    segments = list(session.scalars(select(Segment).order_by(Segment.name)))
    if not segments:
        return []
    parts: list[Select[Any]] = []
    for segment in segments:
        if segment.kind == "static":
            continue
        try:
            group = parse_definition(session, segment.definition)
        except ValidationFailed:  # a definition the registry no longer accepts: not a member
            log.warning("segment %s has a definition that no longer validates", segment.id)
            continue
        ids = compiler.compile_ids(group, actor, only_ids=[customer.id])
        parts.append(select(literal(segment.id).label("segment_id")).where(ids.exists()))
    parts.append(select(SegmentMember.segment_id.label("segment_id")).where(SegmentMember.customer_id == customer.id))
    found = set(session.scalars(union_all(*parts))) if len(parts) > 1 else set(session.scalars(parts[0]))
    return [SegmentRef(id=s.id, name=s.name, kind=s.kind) for s in segments if s.id in found]
