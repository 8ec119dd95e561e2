"""Shared set-up for the coupon tests: templates, issuing, and reading coupons back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.catalog import coupons
from guanxi.loyalty.catalog.models import Coupon, CouponEvent
from guanxi.loyalty.catalog.schemas import CouponOut, CouponTemplateIn, IssueIn
from tests.factories import create_customer

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def template(db: Database, **fields: Any) -> str:
    spec = {"code": "t20", "name": "满100减20", "kind": "fixed_amount", "value": "20.00", "valid_days": 30, **fields}
    with db.unit_of_work() as session:
        return coupons.create_template(session, SYSTEM, CouponTemplateIn.model_validate(spec)).id


def customer(db: Database, name: str = "张伟", **fields: Any) -> str:
    with db.unit_of_work() as session:
        return create_customer(session, name=name, **fields).id


def issue(db: Database, template_id: str, *customer_ids: str, key: str | None = None) -> list[CouponOut]:
    with db.unit_of_work() as session:
        answer = coupons.issue(session, SYSTEM, template_id, IssueIn(customer_ids=list(customer_ids)), key)
    return answer.issued


def coupon_row(db: Database, coupon_id: str) -> Coupon:
    with db.unit_of_work(read_only=True) as session:
        found = session.get(Coupon, coupon_id)
        assert found is not None
        session.expunge(found)
        return found


def history(db: Database, coupon_id: str) -> list[tuple[str | None, str]]:
    with db.unit_of_work(read_only=True) as session:
        events = session.scalars(select(CouponEvent).where(CouponEvent.coupon_id == coupon_id).order_by(CouponEvent.id))
        return [(e.from_status, e.to_status) for e in events]
