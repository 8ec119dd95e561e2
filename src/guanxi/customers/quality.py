"""Data quality: a completeness score per customer and a report over the whole base.

The score weighs what a brand needs to serve and reach a person (a phone and WeChat first, then
the fields that segments and birthday offers use). The report is computed with set-based SQL
(one pass over customers, one over identities) and kept as a snapshot by the daily check, so the
page shows the trend without recomputing the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.config import get_settings
from guanxi.customers import repository
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.customers.quality_models import QualitySnapshot
from guanxi.kit import clock
from guanxi.kit.errors import NotFound
from guanxi.kit.principal import Principal
from guanxi.privacy import audit

# Field -> points; they add up to 100. Identity kinds count once however many the customer has.
WEIGHTS: dict[str, int] = {
    "name": 10,
    "phone": 20,
    "wechat": 15,
    "birthday": 10,
    "city": 10,
    "email": 10,
    "gender": 5,
    "province": 5,
    "occupation": 5,
    "income_band": 5,
    "preferred_channel": 5,
}
assert sum(WEIGHTS.values()) == 100
STALE_AFTER = timedelta(days=365)
OLDEST_AGE_YEARS = 120


@dataclass(frozen=True)
class Score:
    score: int
    missing: list[str]


def _has_identity(kinds: list[str]) -> Any:
    i = CustomerIdentity
    return exists().where(i.customer_id == Customer.id, i.kind.in_(kinds))


def _present() -> dict[str, Any]:
    """Field -> SQL condition that the customer has it."""
    c = Customer
    return {
        "name": c.name != "",  # a customer imported without a name has ""
        "phone": _has_identity(["phone"]),
        "wechat": _has_identity(["wechat_unionid", "wechat_openid"]),
        "birthday": c.birthday.is_not(None),
        "city": and_(c.city.is_not(None), c.city != ""),
        "email": _has_identity(["email"]),
        "gender": c.gender.in_(["male", "female", "other"]),
        "province": and_(c.province.is_not(None), c.province != ""),
        "occupation": and_(c.occupation.is_not(None), c.occupation != ""),
        "income_band": c.income_band.is_not(None),
        "preferred_channel": c.preferred_channel.is_not(None),
    }


def _score_column() -> Any:
    return sum((case((cond, WEIGHTS[name]), else_=0) for name, cond in _present().items()), start=literal(0))


def score_of(session: Session, actor: Principal, customer_id: str) -> Score:
    auth_service.require(actor, "customers", "read")
    if repository.customer_by_id(session, actor, customer_id) is None:
        raise NotFound(
            message=f"customer {customer_id} not found", key="problem.not_found.customer", params={"id": customer_id}
        )
    present = _present()
    names = list(present)
    row = session.execute(
        select(*[case((present[n], 1), else_=0).label(n) for n in names]).where(Customer.id == customer_id)
    ).one()
    missing = [n for n, flag in zip(names, row, strict=True) if not flag]
    return Score(100 - sum(WEIGHTS[n] for n in missing), missing)


def report(session: Session, actor: Principal) -> dict[str, Any]:
    """The base as it is now: scores, missing and invalid fields, stale records, duplicates."""
    auth_service.require(actor, "quality", "read")
    now = clock.now()
    today = clock.today(get_settings().timezone)
    c = Customer
    live = and_(c.deleted_at.is_(None), c.merged_into_id.is_(None))
    present = _present()
    recent_event = exists().where(CustomerEvent.customer_id == c.id, CustomerEvent.occurred_at >= now - STALE_AFTER)
    invalid = {
        "birthday_in_future": c.birthday > today,
        "birthday_too_old": c.birthday < today.replace(year=today.year - OLDEST_AGE_YEARS),
        "city_without_province": and_(c.city.is_not(None), or_(c.province.is_(None), c.province == "")),
    }
    score = _score_column()
    columns = [
        func.count().label("customers"),
        func.coalesce(func.avg(score), 0).label("average"),
        *[func.sum(case((cond, 0), else_=1)).label(f"missing_{n}") for n, cond in present.items() if n != "name"],
        *[func.sum(case((cond, 1), else_=0)).label(f"invalid_{n}") for n, cond in invalid.items()],
        func.sum(case((and_(c.updated_at < now - STALE_AFTER, ~recent_event), 1), else_=0)).label("stale"),
        func.sum(case((score < 40, 1), else_=0)).label("band_low"),
        func.sum(case((and_(score >= 40, score < 70), 1), else_=0)).label("band_mid"),
        func.sum(case((score >= 70, 1), else_=0)).label("band_high"),
    ]
    row = session.execute(select(*columns).where(live)).one()._mapping
    total = int(row["customers"])
    duplicates = _duplicate_customers(session)
    return {
        "customers": total,
        "average_score": round(float(row["average"] or 0)),
        "score_bands": {
            "low": int(row["band_low"] or 0),
            "mid": int(row["band_mid"] or 0),
            "high": int(row["band_high"] or 0),
        },
        "missing": {n: int(row[f"missing_{n}"] or 0) for n in present if n != "name"},
        "invalid": {n: int(row[f"invalid_{n}"] or 0) for n in invalid},
        "stale": int(row["stale"] or 0),
        "duplicate_customers": duplicates,
        "duplicate_rate": round(duplicates / total, 4) if total else 0.0,
    }


def _duplicate_customers(session: Session) -> int:
    """Customers in at least one open duplicate candidate pair."""
    from guanxi.customers.merge_models import DuplicateCandidate as D

    open_pairs = (
        select(D.customer_a_id.label("cid"))
        .where(D.status == "open")
        .union(select(D.customer_b_id.label("cid")).where(D.status == "open"))
    )
    return int(session.scalar(select(func.count()).select_from(open_pairs.subquery())) or 0)


def run_check(session: Session, actor: Principal) -> QualitySnapshot:
    """The scheduled check: compute the report and keep it (a write: not for read-only roles)."""
    auth_service.require(actor, "quality", "create")
    found = report(session, actor)
    snapshot = QualitySnapshot(
        taken_by=actor.id, customers=found["customers"], average_score=found["average_score"], report=found
    )
    session.add(snapshot)
    session.flush()
    audit.record(session, actor, "quality.checked", entity_type="data_quality", entity_id=str(snapshot.id))
    return snapshot


def snapshots(session: Session, actor: Principal, *, limit: int = 30) -> list[QualitySnapshot]:
    auth_service.require(actor, "quality", "read")
    stmt = select(QualitySnapshot).order_by(QualitySnapshot.taken_at.desc(), QualitySnapshot.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def daily_trend(session: Session, actor: Principal, *, days: int = 90) -> list[QualitySnapshot]:
    """The last snapshot of each day over the last `days` days (business time zone), oldest first:
    the trend the page draws. The daily check keeps one a day; checks run by hand add more, and
    only a day's last counts."""
    auth_service.require(actor, "quality", "read")
    zone = ZoneInfo(get_settings().timezone)
    since = clock.now() - timedelta(days=days)
    stmt = (
        select(QualitySnapshot)
        .where(QualitySnapshot.taken_at >= since)
        .order_by(QualitySnapshot.taken_at, QualitySnapshot.id)
    )
    by_day: dict[date, QualitySnapshot] = {}
    for snapshot in session.scalars(stmt):
        by_day[clock.as_utc(snapshot.taken_at).astimezone(zone).date()] = snapshot
    return list(by_day.values())


def run_daily(database: Any) -> str:
    """The scheduled check and event retention, as the system, each in its own transaction."""
    from guanxi.customers import event_types
    from guanxi.kit.principal import SYSTEM

    with database.unit_of_work() as session:
        purged = event_types.purge_expired(session, SYSTEM)
    with database.unit_of_work() as session:
        snapshot = run_check(session, SYSTEM)
        return f"quality: {snapshot.customers} customers, average {snapshot.average_score}; purged {purged}"
