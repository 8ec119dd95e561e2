"""Customers from a file: typed cells -> `customers.bulk` (the service's rules, in batches).

Every problem of a row is found before anything is decided: the cells that do not parse, then the
service's rules. A bad value of a field whose bad values are dropped (`DROPPABLE` by default, or
what the mapping's `on_invalid` says) leaves the field out and keeps the row with a warning; any
other refuses the row, and the refusal names all of them. A row
matching a known customer that differs from a value the customer has is decided by the mapping's
`conflicts`, or held back as a conflict when the mapping says nothing for that field.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from guanxi.customers import bulk
from guanxi.dataio import values as cells
from guanxi.dataio.importers import RowOutcome, text, typed
from guanxi.dataio.mappings import Mapping
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal

# Fields that describe the customer without identifying them: a bad value ("#N/A" for a gender, a
# birthday in 2090) is dropped with a warning and the customer kept. The name, the identities
# (email included: it matches customers) and the source system of an external id refuse the row.
DROPPABLE = frozenset({"gender", "birthday", "province", "city", "region", "occupation", "address", "source_channel"})


def bad_value_policy(mapping: Mapping, name: str) -> str:
    return mapping.bad_value_policy(name, "drop" if name in DROPPABLE else "reject")


def conflict_choice(mapping: Mapping, name: str) -> str | None:
    """What wins when a row differs from a known customer's value of `name`, or None when the
    mapping says nothing for it (neither the field nor "*"): the row is then held back."""
    if name in mapping.conflicts or "*" in mapping.conflicts:
        return mapping.conflict_policy(name)
    return None


class CustomerImporter:
    kind = "customers"
    batch_size = 2000

    def prepare(self, line: int, fields: dict[str, Any], mapping: Mapping) -> bulk.CustomerRecord | list[FieldError]:
        errors: list[FieldError] = []
        values = {k: text(v) for k, v in fields.items()}
        values["birthday"] = typed(fields, errors, "birthday", cells.parse_date, mapping.date_formats.get("birthday"))
        values["gender"] = typed(fields, errors, "gender", cells.parse_gender)
        return bulk.validate(line, values, found=errors, drop=lambda name: bad_value_policy(mapping, name) == "drop")

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
        mapping = options.get("mapping")
        chosen = mapping if isinstance(mapping, Mapping) else Mapping(kind=self.kind)
        outcomes = bulk.apply(session, actor, records, job_id=job_id, choose=lambda name: conflict_choice(chosen, name))
        return [
            RowOutcome(o.line, o.status, o.reason, o.customer_id, o.fields, warnings=o.warnings, changes=o.changes)
            for o in outcomes
        ]
