"""A small population with known profiles, tags, identities, orders and events, so each condition
can be checked against the exact set of customers it must match."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from guanxi.customers import service as customer_service
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.models import Customer
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.models import table_of
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.marketing import compiler
from guanxi.marketing.conditions import parse
from tests.factories import create_customer, post_order

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 2026-11-20
EAST = Principal(id="mgr-east", name="东区经理", role="manager", region="华东", scope="region")


@dataclass
class Planted:
    ids: dict[str, str]  # name -> customer id

    def names(self, customer_ids: list[str] | set[str]) -> set[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[c] for c in customer_ids}


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


def _event(customer_id: str | None, type_: str, at: datetime, n: int, **props: Any) -> dict[str, Any]:
    return {
        "event_id": f"e-{type_}-{n}",
        "type": type_,
        "customer_id": customer_id,
        "occurred_at": at,
        "received_at": at,
        "properties": props,
        "channel": "app",
    }


def plant(db: Database) -> Planted:
    ids: dict[str, str] = {}
    with db.unit_of_work() as session:
        people = [
            dict(
                name="张伟",
                gender="male",
                birthday=date(1990, 5, 10),
                city="上海",
                province="上海",
                region="华东",
                source_channel="wechat",
                tags=["VIP"],
                wechat_unionid="o6_unionid_zhangwei",
                phone="13800138001",
            ),
            dict(
                name="李娜",
                gender="female",
                birthday=date(2000, 11, 30),
                city="北京",
                province="北京",
                region="华北",
                source_channel="app",
                phone="13800138002",
            ),
            dict(
                name="王芳",
                gender="female",
                city="上海",
                province="上海",
                region="华东",
                tags=["VIP", "新客"],
                source_channel="store",
            ),
            dict(
                name="赵强",
                gender="male",
                birthday=date(1970, 2, 15),
                region="华南",
                source_channel="web",
                preferred_channel="sms",
            ),
            dict(name="删除", gender="male", city="上海", region="华东", tags=["VIP"], source_channel="wechat"),
        ]
        for person in people:
            ids[str(person["name"])] = create_customer(session, **person).id
        customer_service.delete_customer(session, SYSTEM, ids["删除"])
    zhang, li, wang = ids["张伟"], ids["李娜"], ids["王芳"]
    baby = [{"category": "母婴", "quantity": 1, "unit_price": "100.00"}]
    with db.unit_of_work() as session:
        # 张伟: two 母婴 orders in the last 90 days, the first exactly on the window's edge.
        post_order(
            session,
            customer_id=zhang,
            amount="100.00",
            external_id="Z1",
            occurred_at=NOW - timedelta(days=90),
            lines=baby,
            store="SH01",
        )
        post_order(
            session,
            customer_id=zhang,
            amount="100.00",
            external_id="Z2",
            occurred_at=NOW - timedelta(days=5),
            lines=baby,
            store="SH01",
        )
        # 李娜: one 母婴 order in the window, one just outside it.
        post_order(
            session,
            customer_id=li,
            amount="100.00",
            external_id="L1",
            occurred_at=NOW - timedelta(days=10),
            lines=baby,
            store="BJ01",
        )
        post_order(
            session,
            customer_id=li,
            amount="100.00",
            external_id="L2",
            occurred_at=NOW - timedelta(days=90, seconds=1),
            lines=baby,
            store="BJ01",
        )
        # 王芳: a large order of another category.
        post_order(
            session,
            customer_id=wang,
            amount="1500.00",
            external_id="W1",
            occurred_at=NOW - timedelta(days=3),
            lines=[{"category": "美妆", "quantity": 3, "unit_price": "500.00"}],
            store="SH02",
        )
    events = [
        _event(zhang, "login", NOW - timedelta(days=30), 1),  # on the edge of "last 30 days": in
        _event(li, "login", NOW - timedelta(days=30, seconds=1), 2),  # one second earlier: out
        _event(wang, "page_view", NOW - timedelta(days=1), 3, page="home"),
        _event(wang, "page_view", NOW - timedelta(days=2), 4, page="home"),
        _event(wang, "page_view", NOW - timedelta(days=3), 5, page="cart"),
        _event(ids["赵强"], "page_view", NOW - timedelta(days=1), 6, page="home"),
        _event(None, "login", NOW - timedelta(days=1), 7),  # anonymous: nobody's
        _event(ids["删除"], "login", NOW - timedelta(days=1), 8),
    ]
    with db.unit_of_work() as session:
        for e in events:
            e["anonymous_id"] = "anon-1" if e["customer_id"] is None else None
        session.execute(insert(table_of(CustomerEvent)), events)
    return Planted(ids)


def matching(db: Database, raw: dict[str, Any], actor: Principal = SYSTEM) -> set[str]:
    with db.unit_of_work(read_only=True) as session:
        return set(session.scalars(compiler.compile_ids(parse(raw), actor)))


def all_ids(db: Database) -> set[str]:
    with db.unit_of_work(read_only=True) as session:
        return set(session.scalars(select(Customer.id).where(Customer.deleted_at.is_(None))))
