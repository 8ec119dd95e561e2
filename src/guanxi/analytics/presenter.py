"""A customer's scores as the API and the console show them, reasons in the reader's language.

Registered with the customers domain, so `GET /api/v1/customers/{id}` carries them. A role that
may not read analytics sees no scores; a customer who refused profiling has none to show.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.analytics.churn_scorecard import Reason, render_reason
from guanxi.analytics.models import CustomerScore
from guanxi.auth import permissions
from guanxi.customers import detail_parts
from guanxi.customers.schemas import ChurnReasonOut, CustomerScoresOut
from guanxi.kit.principal import Principal


def reasons_out(reasons: list[dict[str, Any]], language: str) -> list[ChurnReasonOut]:
    out = []
    for item in reasons:
        reason = Reason(code=item["code"], key=item["key"], weight=0.0, params=item.get("params", {}))
        out.append(
            ChurnReasonOut(
                code=reason.code, key=reason.key, params=dict(reason.params), text=render_reason(reason, language)
            )
        )
    return out


def scores_out(row: CustomerScore, language: str) -> CustomerScoresOut:
    return CustomerScoresOut(
        as_of=row.as_of,
        recency_days=row.recency_days,
        frequency=row.frequency,
        monetary=Decimal(row.monetary),
        r_score=row.r_score,
        f_score=row.f_score,
        m_score=row.m_score,
        rfm_score=row.rfm_score,
        rfm_segment=row.rfm_segment,
        lifecycle_stage=row.lifecycle_stage,
        lifecycle_since=row.lifecycle_since,
        value_tier=row.value_tier,
        clv=row.clv,
        p_alive=row.p_alive,
        expected_purchases=row.expected_purchases,
        churn_risk=row.churn_risk,
        churn_probability=row.churn_probability,
        churn_band=row.churn_band,
        churn_reasons=reasons_out(row.churn_reasons or [], language),
        cluster=row.cluster,
        cluster_name=row.cluster_name,
    )


def customer_scores(session: Session, actor: Principal, customer_id: str) -> CustomerScoresOut | None:
    """The scores of a customer the caller has already been allowed to read."""
    if not permissions.is_allowed(actor, "analytics", "read"):
        return None
    row = session.scalars(select(CustomerScore).where(CustomerScore.customer_id == customer_id)).one_or_none()
    return None if row is None else scores_out(row, actor.language)


detail_parts.register_scores(customer_scores)
# importing the presenter (the API and the console do) also puts stage changes on the 360 timeline
from guanxi.analytics import timeline as _timeline  # noqa: E402, F401


def export_scores(
    session: Session, actor: Principal, customer_ids: list[str], language: str
) -> dict[str, dict[str, Any]]:
    """The scores a report shows per customer (codes, except the cluster's name in words);
    nothing for a reader who may not read analytics."""
    if not customer_ids or not permissions.is_allowed(actor, "analytics", "read"):
        return {}
    from guanxi.kit.i18n import t

    rows = session.scalars(select(CustomerScore).where(CustomerScore.customer_id.in_(customer_ids)))
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        cluster = None
        if row.cluster_name:
            cluster = t(row.cluster_name, language, number=(row.cluster or 0) + 1)
        out[row.customer_id] = {
            "rfm_segment": row.rfm_segment,
            "lifecycle_stage": row.lifecycle_stage,
            "value_tier": row.value_tier,
            "clv": row.clv,
            "p_alive": row.p_alive,
            "churn_risk": row.churn_risk,
            "churn_band": row.churn_band,
            "cluster_name": cluster,
        }
    return out
