"""Customers from a file: typed cells -> `customers.bulk` (the service's rules, in batches)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from guanxi.customers import bulk
from guanxi.dataio import values as cells
from guanxi.dataio.headers import Mapping
from guanxi.dataio.importers import RowOutcome, text, typed
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal


class CustomerImporter:
    kind = "customers"
    batch_size = 2000

    def prepare(self, line: int, fields: dict[str, Any], mapping: Mapping) -> bulk.CustomerRecord | list[FieldError]:
        errors: list[FieldError] = []
        values = {k: text(v) for k, v in fields.items()}
        values["birthday"] = typed(fields, errors, "birthday", cells.parse_date, mapping.date_formats.get("birthday"))
        values["gender"] = typed(fields, errors, "gender", cells.parse_gender)
        if errors:
            return errors
        return bulk.validate(line, values)

    def keys(self, record: bulk.CustomerRecord) -> list[str]:
        return record.keys()

    def apply(
        self,
        session: Session,
        actor: Principal,
        records: list[bulk.CustomerRecord],
        *,
        job_id: str | None,
        options: dict[str, Any],
    ) -> list[RowOutcome]:
        return [
            RowOutcome(o.line, o.status, o.reason, o.customer_id, o.fields)
            for o in bulk.apply(session, actor, records, job_id=job_id)
        ]
