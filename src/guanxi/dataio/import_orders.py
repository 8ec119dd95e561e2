"""Historical orders from a file: typed cells -> `loyalty.orders.bulk_import` (no points by default).

Rows that share an order id (given, or derived by the mapping from other columns) are the lines of
one order, wherever they are in the file: the runner stages them and hands them to `combine`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from guanxi.dataio import values as cells
from guanxi.dataio.importers import RowOutcome, describe, parse_currency, parse_status, text, typed, zone
from guanxi.dataio.mappings import Mapping
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal
from guanxi.loyalty.orders import bulk_import as order_import

# A bad value in one of these is dropped with a warning and the order kept (they describe the
# order, they do not make it); any other bad value refuses the row unless the mapping says "drop".
DROPPABLE = frozenset({"store", "channel", "category", "sku"})
MAX_LINES = 500  # as an order posted to the API


class OrderImporter:
    kind = "orders"
    batch_size = 2000
    groups_lines = True

    def prepare(
        self, line: int, fields: dict[str, Any], mapping: Mapping
    ) -> order_import.OrderRecord | list[FieldError]:
        errors: list[FieldError] = []
        warnings: list[str] = []
        values: dict[str, Any] = {k: text(v) for k, v in fields.items()}

        def read(name: str, parse: Any, *args: Any) -> Any:
            policy = mapping.bad_value_policy(name, "drop" if name in DROPPABLE else "reject")
            return typed(fields, errors, name, parse, *args, warnings=warnings if policy == "drop" else None)

        values["paid_amount"] = read("paid_amount", cells.parse_amount)
        values["unit_price"] = read("unit_price", cells.parse_amount)
        values["refunded_amount"] = read("refunded_amount", cells.parse_amount)
        values["quantity"] = read("quantity", cells.parse_quantity)
        values["currency"] = read("currency", parse_currency)
        values["status"] = read("status", parse_status)
        values["occurred_at"] = read(
            "occurred_at", cells.parse_datetime, zone(), mapping.date_formats.get("occurred_at")
        )
        for name in ("external_id", "paid_amount", "occurred_at"):
            if values.get(name) in (None, "") and not any(e.field == name for e in errors):
                errors.append(FieldError(name, "is required", "required"))
        checked = order_import.validate(line, {k: v for k, v in values.items() if v is not None})
        if isinstance(checked, list):
            # every problem of the row, once per field: the cells' own, then the order's rules
            named = {e.field for e in errors}
            return errors + [e for e in checked if e.field not in named]
        if errors:
            return errors
        checked.warnings = warnings
        return checked

    def keys(self, record: order_import.OrderRecord) -> list[str]:
        return record.keys()

    def group_key(self, record: order_import.OrderRecord) -> str:
        return record.keys()[0]

    def raw_key(self, fields: dict[str, Any]) -> str | None:
        external_id = text(fields.get("external_id") or "").strip()
        if not external_id:
            return None
        return order_import.order_key(text(fields.get("source") or "").strip(), external_id)

    def combine(self, records: list[order_import.OrderRecord]) -> order_import.OrderRecord | str:
        """The lines of one order as one record: amounts added up, lines in file order, the
        order's own facts (customer, time, store, status, currency) taken from its first line and
        required to agree on the others."""
        if len(records) == 1:
            return records[0]
        first = records[0]
        if len(records) > MAX_LINES:
            return f"external_id: order {first.data.external_id} has {len(records)} lines; at most {MAX_LINES}"
        head = first.data
        for record in records[1:]:
            other = record.data
            for name in ("customer_id", "identity", "currency", "status", "store", "channel"):
                if getattr(other, name) != getattr(head, name):
                    return (
                        f"{name}: the lines of order {head.external_id} disagree"
                        f" (line {first.line} and line {record.line})"
                    )
        lines = []
        for record in records:
            lines.extend(record.data.lines or [order_import.whole_order_line(record.data)])
        refunded = [r.data.refunded_amount for r in records if r.data.refunded_amount is not None]
        data = head.model_copy(
            update={
                "paid_amount": sum((r.data.paid_amount for r in records), Decimal(0)),
                "occurred_at": min(r.data.occurred_at for r in records),
                "lines": lines,
                "refunded_amount": sum(refunded, Decimal(0)) if refunded else None,
            }
        )
        problems = order_import.recheck(data)
        if problems:
            return describe(list(problems))
        warnings = [w for r in records for w in r.warnings]
        return order_import.OrderRecord(first.line, data, warnings=warnings, line_count=len(records))

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
        warned = {r.line: r.warnings for r in records}
        return [RowOutcome(o.line, o.status, o.reason, o.order_id, warnings=warned.get(o.line, [])) for o in outcomes]
