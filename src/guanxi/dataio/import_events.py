"""Behaviour events from a file, through the event service (`customers.events.ingest`) in batches
of up to 1,000 (the API's format and rules; duplicates by event id change nothing)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from guanxi.customers import event_types, events
from guanxi.dataio import values as cells
from guanxi.dataio.importers import RowOutcome, text, typed, zone
from guanxi.dataio.mappings import Mapping
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal
from guanxi.kit.row_problems import refusal

_IDENTITY_KINDS = ("phone", "email", "member_card", "wechat_unionid", "app_user_id")


@dataclass
class EventRecord:
    line: int
    item: dict[str, Any]  # the event as the API takes it
    text_properties: dict[str, str]  # property columns of a CSV/XLSX file, typed by the event's schema


def _coerce(kind: str, value: str) -> Any:
    """A property cell read as its declared type (cells of CSV files are all text)."""
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "是"):
            return True
        if lowered in ("false", "0", "no", "否"):
            return False
    return value


class EventImporter:
    kind = "events"
    batch_size = events.MAX_BATCH

    def prepare(self, line: int, fields: dict[str, Any], mapping: Mapping) -> EventRecord | list[FieldError]:
        errors: list[FieldError] = []
        item: dict[str, Any] = {}
        for name in ("event_id", "type", "customer_id", "anonymous_id", "channel"):
            if fields.get(name) not in (None, ""):
                item[name] = text(fields[name])
        when = typed(
            fields, errors, "occurred_at", cells.parse_datetime, zone(), mapping.date_formats.get("occurred_at")
        )
        if when is not None:
            item["occurred_at"] = when.isoformat()
        identities = [{"kind": k, "value": text(fields[k])} for k in _IDENTITY_KINDS if fields.get(k) not in (None, "")]
        if fields.get("customer_external_id") not in (None, ""):
            # the source system's customer id, in the system that issued it (as customers imported it)
            if fields.get("customer_source") in (None, ""):
                errors.append(
                    FieldError("customer_source", "is required with customer_external_id (e.g. eshop)", "required")
                )
            else:
                identities.append(
                    {
                        "kind": "external_id",
                        "namespace": text(fields["customer_source"]),
                        "value": text(fields["customer_external_id"]),
                    }
                )
        if identities:
            item["identities"] = identities
        properties: dict[str, Any] = {}
        raw = fields.get("properties")
        if isinstance(raw, dict):
            properties.update(raw)
        elif raw not in (None, ""):
            try:
                parsed = json.loads(text(raw))
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                errors.append(FieldError("properties", "must be a JSON object", "invalid"))
            else:
                properties.update(parsed)
        text_properties = {k.split(".", 1)[1]: text(v) for k, v in fields.items() if k.startswith("properties.")}
        if properties:
            item["properties"] = properties
        for name in ("event_id", "type", "occurred_at"):
            if name not in item and not any(e.field == name for e in errors):
                errors.append(FieldError(name, "is required", "required"))
        if errors:
            return errors
        return EventRecord(line, item, text_properties)

    def keys(self, record: EventRecord) -> list[str]:
        return [str(record.item.get("event_id"))]

    def apply(
        self,
        session: Session,
        actor: Principal,
        records: list[EventRecord],
        *,
        job_id: str | None,
        options: dict[str, Any],
    ) -> list[RowOutcome]:
        if not records:
            return []
        specs = event_types.registry(session) if any(r.text_properties for r in records) else {}
        items = []
        for record in records:
            item = dict(record.item)
            if record.text_properties:
                spec = specs.get(str(item.get("type")))
                declared = spec.properties if spec else {}
                props = dict(item.get("properties") or {})
                for name, value in record.text_properties.items():
                    props[name] = _coerce(declared.get(name, "string"), value)
                item["properties"] = props
            items.append(item)
        result = events.ingest(session, actor, items, partial=True, source="import")
        outcomes = []
        for record, item_result in zip(records, result.results, strict=True):
            if item_result.status == "accepted":
                outcomes.append(RowOutcome(record.line, "created", entity_id=item_result.customer_id))
            elif item_result.status == "duplicate":
                outcomes.append(RowOutcome(record.line, "unchanged"))
            else:
                reason = refusal(list(item_result.errors), strip=_strip_index)
                outcomes.append(RowOutcome(record.line, "rejected", reason))
        return outcomes


def _strip_index(field_name: str) -> str:
    """events[3].properties.sku -> properties.sku (the row is named by its line)."""
    if field_name.startswith("events["):
        rest = field_name.split("]", 1)[1]
        return rest.lstrip(".") or "event"
    return field_name
