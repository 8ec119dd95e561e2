"""Customer 360: one customer's whole story, newest first, gathered from every domain.

Domains above customers (loyalty today; support and messaging later) register a source here
instead of being imported by it, so the layering holds: a source reads its own tables for one
customer and returns timeline items. A source the reader may not see (its permission) is left
out and named in `hidden`, so an empty section is never mistaken for "nothing happened".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth import service as auth_service
from guanxi.customers import presenter, repository
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.models import CustomerIdentity, CustomerNote
from guanxi.customers.tag_history import CustomerTagHistory
from guanxi.kit import clock
from guanxi.kit.errors import FieldError, NotFound, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.privacy import audit


@dataclass(frozen=True)
class Window:
    since: datetime | None
    until: datetime | None  # inclusive upper bound (the cursor's instant when paging)
    limit: int


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str
    title: str
    ref: str
    detail: dict[str, Any] = field(default_factory=dict)


S = TypeVar("S", bound="Select[*tuple[Any, ...]]")
Source = Callable[[Session, Principal, str, Window], list[TimelineItem]]


@dataclass(frozen=True)
class _Registered:
    fn: Source
    resource: str


_SOURCES: dict[str, _Registered] = {}


def register_source(kind: str, resource: str, fn: Source) -> None:
    """A domain contributes items of `kind`, shown to readers with `resource:read`."""
    _SOURCES[kind] = _Registered(fn, resource)


def kinds() -> list[str]:
    return sorted(_SOURCES)


@dataclass
class Timeline:
    items: list[TimelineItem]
    next_cursor: str | None
    hidden: list[str]  # kinds the reader may not see


def _cursor_of(item: TimelineItem) -> str:
    return f"{item.at.isoformat()}|{item.kind}|{item.ref}"


def _parse_cursor(cursor: str) -> tuple[datetime, str, str]:
    try:
        at, kind, ref = cursor.split("|", 2)
        return clock.as_utc(datetime.fromisoformat(at)), kind, ref
    except ValueError:
        raise ValidationFailed(
            message="cursor: not a cursor this endpoint gave out",
            errors=[FieldError("cursor", "not a cursor this endpoint gave out", "invalid_cursor")],
        ) from None


def _order(item: TimelineItem) -> tuple[datetime, str, str]:
    return (item.at, item.kind, item.ref)


def timeline(
    session: Session,
    actor: Principal,
    customer_id: str,
    *,
    kinds_wanted: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Timeline:
    auth_service.require(actor, "customers", "read")
    if repository.customer_by_id(session, actor, customer_id) is None:
        raise NotFound(
            message=f"customer {customer_id} not found", key="problem.not_found.customer", params={"id": customer_id}
        )
    unknown = sorted(set(kinds_wanted or []) - set(_SOURCES))
    if unknown:
        allowed = ", ".join(kinds())
        raise ValidationFailed(
            message=f"types: unknown {', '.join(unknown)}; one of {allowed}",
            errors=[
                FieldError(
                    "types",
                    f"unknown {', '.join(unknown)}; one of {allowed}",
                    "unknown_type",
                    {"unknown": ", ".join(unknown), "allowed": allowed},
                    key="problem.timeline.unknown_type",
                )
            ],
        )
    if since and until and since > until:
        raise ValidationFailed(
            message="since: must not be after until",
            errors=[FieldError("since", "must not be after until", "range", key="problem.timeline.range")],
        )
    after: tuple[datetime, str, str] | None = _parse_cursor(cursor) if cursor else None
    upper = after[0] if after else until
    if after and until and until < upper:  # type: ignore[operator]
        upper = until
    window = Window(since, upper, limit + 1)
    items: list[TimelineItem] = []
    hidden: list[str] = []
    for kind, source in sorted(_SOURCES.items()):
        if kinds_wanted and kind not in kinds_wanted:
            continue
        if not permissions.is_allowed(actor, source.resource, "read"):
            hidden.append(kind)
            continue
        items.extend(source.fn(session, actor, customer_id, window))
    if after:
        items = [i for i in items if _order(i) < after]
    items.sort(key=_order, reverse=True)
    page = items[:limit]
    next_cursor = _cursor_of(page[-1]) if len(items) > limit else None
    audit.record(
        session,
        actor,
        "customer.timeline_viewed",
        entity_type="customer",
        entity_id=customer_id,
        detail={"types": kinds_wanted or "all", "items": len(page)},
    )
    return Timeline(page, next_cursor, hidden)


def bounded(stmt: S, column: Any, window: Window) -> S:
    """A source's query cut to the window, newest first."""
    if window.since is not None:
        stmt = stmt.where(column >= window.since)
    if window.until is not None:
        stmt = stmt.where(column <= window.until)
    return stmt.order_by(column.desc()).limit(window.limit)


def _events(session: Session, actor: Principal, customer_id: str, window: Window) -> list[TimelineItem]:
    stmt = select(CustomerEvent).where(CustomerEvent.customer_id == customer_id)
    rows = session.scalars(bounded(stmt, CustomerEvent.occurred_at, window))
    return [
        TimelineItem(
            at=row.occurred_at,
            kind="event",
            title=row.type,
            ref=str(row.id),
            detail={"type": row.type, "channel": row.channel, "properties": row.properties},
        )
        for row in rows
    ]


def _notes(session: Session, actor: Principal, customer_id: str, window: Window) -> list[TimelineItem]:
    stmt = select(CustomerNote).where(CustomerNote.customer_id == customer_id)
    rows = session.scalars(bounded(stmt, CustomerNote.created_at, window))
    return [
        TimelineItem(row.created_at, "note", row.body[:80], row.id, {"author": row.author_name, "body": row.body})
        for row in rows
    ]


def _identities(session: Session, actor: Principal, customer_id: str, window: Window) -> list[TimelineItem]:
    """When each identity joined the profile; the value itself is masked as the reader sees it."""
    stmt = select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
    rows = list(session.scalars(bounded(stmt, CustomerIdentity.created_at, window)))
    visibility = permissions.visibility(actor)
    items = []
    for row in rows:
        shown = presenter.identity_out(row, visibility)
        detail = {"kind": row.kind, "namespace": row.namespace, "value": shown.value, "verified": row.verified}
        items.append(TimelineItem(row.created_at, "identity", row.kind, row.id, detail))
    return items


def _tags(session: Session, actor: Principal, customer_id: str, window: Window) -> list[TimelineItem]:
    stmt = select(CustomerTagHistory).where(CustomerTagHistory.customer_id == customer_id)
    rows = session.scalars(bounded(stmt, CustomerTagHistory.occurred_at, window))
    return [
        TimelineItem(
            row.occurred_at,
            "tag",
            f"{'+' if row.action == 'add' else '-'}{row.tag}",
            str(row.id),
            {"tag": row.tag, "action": row.action, "source": row.source},
        )
        for row in rows
    ]


register_source("event", "events", _events)
register_source("tag", "tags", _tags)
register_source("note", "notes", _notes)
register_source("identity", "customers", _identities)


# Sections: what other domains know about the customer right now (the member card, segments,
# merge history), shown beside the timeline on the 360 page.
Section = Callable[[Session, Principal, str], Any]


@dataclass(frozen=True)
class _RegisteredSection:
    fn: Section
    resource: str


_SECTIONS: dict[str, _RegisteredSection] = {}


def register_section(name: str, resource: str, fn: Section) -> None:
    """A domain's current view of the customer (e.g. the member card), shown with `resource:read`."""
    _SECTIONS[name] = _RegisteredSection(fn, resource)


def sections(session: Session, actor: Principal, customer_id: str) -> dict[str, Any]:
    """Every registered section the reader may see, by name (a failing permission omits it)."""
    auth_service.require(actor, "customers", "read")
    if repository.customer_by_id(session, actor, customer_id) is None:
        raise NotFound(
            message=f"customer {customer_id} not found", key="problem.not_found.customer", params={"id": customer_id}
        )
    found: dict[str, Any] = {}
    for name, section in sorted(_SECTIONS.items()):
        if permissions.is_allowed(actor, section.resource, "read"):
            found[name] = section.fn(session, actor, customer_id)
    return found
