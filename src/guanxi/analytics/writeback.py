"""Writing a run's scores back to the operational database.

Rows are replaced in chunks with Core statements (a million customers through the ORM would cost
more than the models). A model the run skipped keeps each customer's previous values. Customers
no longer scored (deleted, merged away, refused profiling) lose their row, so nothing computed
before is shown for them. A stage that changed since the previous run leaves a stage change (the
360 timeline) and an outbox event; the first run sets the baseline and emits none.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from guanxi.analytics.models import CustomerScore, StageChange
from guanxi.analytics.scoring import MODEL_COLUMNS
from guanxi.kit import clock, outbox
from guanxi.kit.models import table_of

CHUNK = 5_000
STAGE_TOPIC = "analytics.lifecycle_changed"
_scores = table_of(CustomerScore)
_changes = table_of(StageChange)


@dataclass
class WriteReport:
    written: int = 0
    removed: int = 0
    stage_changes: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"written": self.written, "removed": self.removed, "stage_changes": self.stage_changes}


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def previous(session: Session, columns: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """The stored stage (and `columns`) by customer: only what the write needs, since decoding
    every stored score of a million customers costs more than writing the new ones."""
    wanted = ["customer_id", "lifecycle_stage", "lifecycle_since", *(c for c in columns if c not in ("customer_id",))]
    statement = select(*(_scores.c[name] for name in dict.fromkeys(wanted)))
    return {row["customer_id"]: dict(row) for row in session.execute(statement).mappings()}


def write_scores(
    session: Session, scores: pd.DataFrame, *, run_id: str, as_of: date, skipped: Sequence[str]
) -> WriteReport:
    report = WriteReport()
    keep_columns = [c for model in skipped for c in MODEL_COLUMNS.get(model, ())]
    before = previous(session, keep_columns)
    now = clock.now()
    rows: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for record in scores.to_dict("records"):
        customer = record["customer_id"]
        old = before.get(customer)
        if old is not None:
            for column in keep_columns:
                record[column] = _python(old[column])
        stage = record.get("lifecycle_stage")
        old_stage = None if old is None else old["lifecycle_stage"]
        since = as_of
        if old is not None and old_stage == stage and old["lifecycle_since"] is not None:
            since = old["lifecycle_since"]
        elif old is not None and old_stage and stage and old_stage != stage:
            changes.append(
                {
                    "customer_id": customer,
                    "as_of": as_of,
                    "from_stage": old_stage,
                    "to_stage": stage,
                    "run_id": run_id,
                    "created_at": now,
                }
            )
        rows.append(_row(record, run_id=run_id, as_of=as_of, since=since, now=now))
    scored = {r["customer_id"] for r in rows}
    gone = [c for c in before if c not in scored]
    for chunk in _chunks(gone):
        session.execute(delete(_scores).where(_scores.c.customer_id.in_(chunk)))
    report.removed = len(gone)
    for chunk in _chunks(rows):
        session.execute(delete(_scores).where(_scores.c.customer_id.in_([r["customer_id"] for r in chunk])))
        session.execute(insert(_scores), list(chunk))
    report.written = len(rows)
    if changes:
        for chunk in _chunks(changes):
            session.execute(insert(_changes), list(chunk))
        outbox.emit_many(
            session,
            STAGE_TOPIC,
            [
                {
                    "customer_id": c["customer_id"],
                    "from": c["from_stage"],
                    "to": c["to_stage"],
                    "as_of": as_of.isoformat(),
                    "run_id": run_id,
                }
                for c in changes
            ],
        )
    report.stage_changes = len(changes)
    session.flush()
    return report


def _python(value: Any) -> Any:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    return value


def _row(record: dict[str, Any], *, run_id: str, as_of: date, since: date, now: Any) -> dict[str, Any]:
    def integer(value: Any) -> int | None:
        return None if value is None else int(value)

    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    def money(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(round(float(value), 2)))

    return {
        "customer_id": record["customer_id"],
        "as_of": as_of,
        "run_id": run_id,
        "recency_days": integer(record.get("recency_days")),
        "frequency": int(record.get("frequency") or 0),
        "monetary": money(record.get("monetary")) or Decimal("0.00"),
        "r_score": integer(record.get("r_score")),
        "f_score": integer(record.get("f_score")),
        "m_score": integer(record.get("m_score")),
        "rfm_score": number(record.get("rfm_score")),
        "rfm_segment": record.get("rfm_segment"),
        "lifecycle_stage": record.get("lifecycle_stage"),
        "lifecycle_since": since if record.get("lifecycle_stage") else None,
        "value_tier": record.get("value_tier"),
        "clv": money(record.get("clv")),
        "p_alive": number(record.get("p_alive")),
        "expected_purchases": number(record.get("expected_purchases")),
        "churn_risk": number(record.get("churn_risk")),
        "churn_probability": number(record.get("churn_probability")),
        "churn_band": record.get("churn_band"),
        "churn_reasons": record.get("churn_reasons") or [],
        "cluster": integer(record.get("cluster")),
        "cluster_name": record.get("cluster_name"),
        "updated_at": now,
    }
