"""Scores put straight into the table, for the tests of what staff do with them (playbooks, the
retention worklist): clearer than fitting a run to land customers in a given segment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from guanxi.analytics.models import CustomerScore
from guanxi.kit.db import Database

AS_OF = date(2026, 6, 30)
REASON = {"code": "recency_cycle", "key": "churn.reason.recency_cycle", "params": {"days": 120, "ratio": 3.0}}
REASON_EN = "Last purchase 120 days ago, 3 times their usual interval"
REASON_ZH = "上次消费距今 120 天，是其平均周期的 3 倍"


def put_score(db: Database, customer_id: str, *, segment: str | None = "at_risk", **fields: Any) -> None:
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "as_of": AS_OF,
        "run_id": "01TESTRUN0000000000000000A",
        "frequency": 3,
        "monetary": Decimal("300.00"),
        "rfm_segment": segment,
        "clv": Decimal("1234.50"),
        "churn_risk": 72.5,
        "churn_band": "high",
        "churn_reasons": [REASON],
        **fields,
    }
    with db.unit_of_work() as session:
        session.add(CustomerScore(**values))
