"""Opening balances from a file (kind `balances`): one row per member, typed cells ->
`loyalty.members.opening` (points, growth value and tier, recorded once per member)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from guanxi.dataio import values as cells
from guanxi.dataio.importers import RowOutcome, text, typed
from guanxi.dataio.mappings import Mapping
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal
from guanxi.loyalty.members import opening
from guanxi.loyalty.program.schemas import IdentityRef

# Points and growth are whole numbers of at most this size (a figure beyond it is a typo).
MAX_FIGURE = 10**12
_SEPARATORS = re.compile(r"[\s,_]")
_IDENTITY_KINDS = ("phone", "member_card", "email", "wechat_unionid")


def parse_figure(value: str) -> int:
    """A whole number as written in a spreadsheet ("12,500", "12500.0"); a sign is read, so a
    negative balance is refused for what it is rather than as an unreadable cell."""
    cleaned = _SEPARATORS.sub("", value.strip())
    if not re.fullmatch(r"[+-]?\d+(\.0+)?", cleaned):
        raise cells.BadValue("is not a whole number")
    number = int(cleaned.split(".", 1)[0])
    if abs(number) > MAX_FIGURE:
        raise cells.BadValue("is too large")
    return number


def _customer(values: dict[str, Any]) -> tuple[str | None, IdentityRef | None] | FieldError:
    """The member the row names, as an order row names its customer."""
    if values.get("customer_id"):
        if len(values["customer_id"]) > 26:
            return FieldError("customer_id", "is not a customer id (26 characters)", "invalid")
        return values["customer_id"], None
    if values.get("customer_external_id"):
        source = values.get("customer_source")
        if not source:
            return FieldError("customer_source", "is required with customer_external_id (e.g. eshop)", "required")
        return _identity("customer_external_id", "external_id", values["customer_external_id"], source)
    for kind in _IDENTITY_KINDS:
        if values.get(kind):
            return _identity(kind, kind, values[kind])
    return FieldError(
        "customer",
        "name the member: customer_id, customer_external_id, phone, member card, email or unionid",
        "required",
    )


def _identity(name: str, kind: str, value: str, namespace: str = "") -> tuple[None, IdentityRef] | FieldError:
    try:
        return None, IdentityRef(kind=kind, value=value, namespace=namespace)
    except PydanticValidationError as exc:
        return FieldError(name, exc.errors()[0]["msg"], "invalid")


class BalanceImporter:
    kind = "balances"
    batch_size = 2000

    def prepare(self, line: int, fields: dict[str, Any], mapping: Mapping) -> opening.OpeningRecord | list[FieldError]:
        errors: list[FieldError] = []
        values: dict[str, Any] = {k: text(v) for k, v in fields.items()}
        points = typed(fields, errors, "points", parse_figure)
        growth = typed(fields, errors, "growth", parse_figure)
        expire_on = typed(
            fields, errors, "points_expire_on", cells.parse_date, mapping.date_formats.get("points_expire_on")
        )
        for name in ("points", "growth", "tier"):
            if values.get(name) in (None, "") and not any(e.field == name for e in errors):
                errors.append(FieldError(name, "is required", "required"))
        who = _customer(values)
        if isinstance(who, FieldError):
            errors.append(who)
        if errors or isinstance(who, FieldError):
            return errors
        customer_id, identity = who
        return opening.OpeningRecord(
            line=line,
            customer_id=customer_id,
            identity=identity,
            points=int(points),
            growth=int(growth),
            tier=values["tier"],
            points_expire_on=expire_on,
        )

    def keys(self, record: opening.OpeningRecord) -> list[str]:
        return record.keys()

    def apply(
        self,
        session: Session,
        actor: Principal,
        records: list[opening.OpeningRecord],
        *,
        job_id: str | None,
        options: dict[str, Any],
    ) -> list[RowOutcome]:
        return [
            RowOutcome(o.line, o.status, o.reason, o.customer_id, changes=o.changes)
            for o in opening.apply(session, actor, records, job_id=job_id)
        ]


class BalanceFigures:
    """The job's figures (kept in its report): fed each batch's outcomes, dry runs included."""

    def __init__(self) -> None:
        self._figures = opening.Figures()

    def add(self, outcomes: list[RowOutcome]) -> None:
        self._figures.add(
            [
                opening.Outcome(o.line, "created", o.entity_id, changes=o.changes)
                for o in outcomes
                if o.status == "created"
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        return self._figures.as_dict()
