"""Historical orders from a file: typed cells -> `loyalty.orders.bulk_import` (no points by default)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from guanxi.dataio import values as cells
from guanxi.dataio.headers import Mapping
from guanxi.dataio.importers import RowOutcome, text, typed, zone
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal
from guanxi.loyalty.orders import bulk_import as order_import


class OrderImporter:
    kind = "orders"
    batch_size = 2000

    def prepare(
        self, line: int, fields: dict[str, Any], mapping: Mapping
    ) -> order_import.OrderRecord | list[FieldError]:
        errors: list[FieldError] = []
        values: dict[str, Any] = {k: text(v) for k, v in fields.items()}
        values["paid_amount"] = typed(fields, errors, "paid_amount", cells.parse_amount)
        values["unit_price"] = typed(fields, errors, "unit_price", cells.parse_amount)
        values["quantity"] = typed(fields, errors, "quantity", cells.parse_quantity)
        values["occurred_at"] = typed(
            fields, errors, "occurred_at", cells.parse_datetime, zone(), mapping.date_formats.get("occurred_at")
        )
        for name in ("external_id", "paid_amount", "occurred_at"):
            if values.get(name) in (None, "") and not any(e.field == name for e in errors):
                errors.append(FieldError(name, "is required", "required"))
        if errors:
            return errors
        return order_import.validate(line, values)

    def keys(self, record: order_import.OrderRecord) -> list[str]:
        return record.keys()

    def apply(
        self,
        session: Session,
        actor: Principal,
        records: list[order_import.OrderRecord],
        *,
        job_id: str | None,
        options: dict[str, Any],
    ) -> list[RowOutcome]:
        outcomes = order_import.apply(
            session, actor, records, job_id=job_id, award_points=bool(options.get("award_points"))
        )
        return [RowOutcome(o.line, o.status, o.reason, o.order_id) for o in outcomes]
