"""The event-type registry: built-in types from code, custom types and per-type settings in the
database (a brand sets retention for a built-in type, or switches one off, without a release)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.customers.event_models import CustomerEvent, EventType
from guanxi.customers.event_schema import BUILTIN, CODE_PATTERN, EventTypeSpec, check_schema
from guanxi.kit import clock
from guanxi.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from guanxi.kit.models import table_of
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

require = auth_service.require


def _spec_of(row: EventType) -> EventTypeSpec:
    return EventTypeSpec(
        code=row.code,
        label_zh=row.label_zh,
        label_en=row.label_en,
        properties=dict(row.properties),
        required=tuple(row.required),
        retention_days=row.retention_days,
        builtin=row.builtin,
        active=row.active,
    )


def registry(session: Session) -> dict[str, EventTypeSpec]:
    """Every known type: built-ins overlaid with their stored settings, then custom types."""
    specs = dict(BUILTIN)
    for row in session.scalars(select(EventType)):
        if row.builtin and row.code in BUILTIN:
            specs[row.code] = replace(BUILTIN[row.code], retention_days=row.retention_days, active=row.active)
        else:
            specs[row.code] = _spec_of(row)
    return specs


def list_types(session: Session, actor: Principal) -> list[EventTypeSpec]:
    require(actor, "events", "read")
    return sorted(registry(session).values(), key=lambda s: (not s.builtin, s.code))


def get_type(session: Session, actor: Principal, code: str) -> EventTypeSpec:
    require(actor, "events", "read")
    spec = registry(session).get(code)
    if spec is None:
        raise NotFound(message=f"event type {code} not found", key="problem.not_found.event_type", params={"id": code})
    return spec


def _raise(problems: list[tuple[str, str, str]]) -> None:
    if problems:
        errors = [FieldError(path, message, code) for path, message, code in problems]
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def _check_retention(retention_days: int | None) -> list[tuple[str, str, str]]:
    if retention_days is not None and not 1 <= retention_days <= 3650:
        return [("retention_days", "must be between 1 and 3650 days, or empty to keep events", "out_of_range")]
    return []


def create_type(session: Session, actor: Principal, data: dict[str, Any]) -> EventTypeSpec:
    """A custom type: lower-case code, labels in both languages, a schema of typed properties."""
    require(actor, "events", "update")
    code = data["code"]
    problems: list[tuple[str, str, str]] = []
    if not CODE_PATTERN.fullmatch(code):
        problems.append(("code", "2-40 lower-case letters, digits and _, starting with a letter", "invalid_code"))
    problems += check_schema(data.get("properties", {}), data.get("required", []))
    problems += _check_retention(data.get("retention_days"))
    _raise(problems)
    if code in registry(session):
        raise Conflict(
            message=f"event type {code} already exists", errors=[FieldError("code", "already exists", "taken")]
        )
    row = EventType(
        code=code,
        label_zh=data["label_zh"],
        label_en=data["label_en"],
        properties=data.get("properties", {}),
        required=data.get("required", []),
        retention_days=data.get("retention_days"),
        builtin=False,
        active=True,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "event_type.created", entity_type="event_type", entity_id=code, detail={"code": code})
    return _spec_of(row)


def update_type(session: Session, actor: Principal, code: str, changes: dict[str, Any]) -> EventTypeSpec:
    """Retention and on/off for any type; labels and schema for custom types only (a built-in
    type's schema is part of the product). Properties may be added, never removed or retyped:
    stored events and saved segments rely on them."""
    require(actor, "events", "update")
    spec = registry(session).get(code)
    if spec is None:
        raise NotFound(message=f"event type {code} not found", key="problem.not_found.event_type", params={"id": code})
    problems = _check_retention(changes.get("retention_days", spec.retention_days))
    if spec.builtin and {"label_zh", "label_en", "properties", "required"} & set(changes):
        problems.append(("properties", "a built-in type's labels and schema cannot be changed", "builtin"))
    new_props = None if spec.builtin else changes.get("properties")
    if new_props is not None:
        for name, kind in spec.properties.items():
            if new_props.get(name) != kind:
                problems.append((f"properties.{name}", f"was {kind}: properties can be added, not changed", "frozen"))
        problems += check_schema(new_props, list(changes.get("required", spec.required)))
    _raise(problems)
    row = session.get(EventType, code)
    if row is None:  # a built-in type gets its settings row on first change
        row = EventType(code=code, label_zh=spec.label_zh, label_en=spec.label_en, builtin=True)
        row.properties, row.required = {}, []
        session.add(row)
    for name in ("retention_days", "active", "label_zh", "label_en", "properties", "required"):
        if name in changes:
            setattr(row, name, changes[name])
    row.updated_at = clock.now()
    session.flush()
    audit.record(session, actor, "event_type.updated", entity_type="event_type", entity_id=code, fields=list(changes))
    return registry(session)[code]


def purge_expired(session: Session, actor: Principal) -> dict[str, int]:
    """Delete events older than their type's retention; returns rows deleted per type."""
    require(actor, "events", "update")
    events = table_of(CustomerEvent)
    now = clock.now()
    deleted: dict[str, int] = {}
    for spec in registry(session).values():
        if spec.retention_days is None:
            continue
        cutoff = now - timedelta(days=spec.retention_days)
        result = session.execute(delete(events).where(events.c.type == spec.code, events.c.occurred_at < cutoff))
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            deleted[spec.code] = count
    if deleted:
        audit.record(session, actor, "events.purged", entity_type="event_type", detail={"deleted": deleted})
    return deleted
