"""Tag rules: set-based refresh adds and removes exactly, keeps manual tags, writes history, and
runs for the customers named by arriving events and orders (outbox handlers)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from guanxi.customers import events, notes
from guanxi.customers.models import CustomerTag
from guanxi.customers.tag_history import CustomerTagHistory
from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, PermissionDenied, ValidationFailed
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.marketing import handlers, tag_rules
from guanxi.marketing.schemas import TagRuleIn, TagRuleUpdate
from tests.factories import post_order
from tests.integration.marketing.planted import NOW, Planted, frozen, plant

__all__ = ["frozen"]
assert handlers.HANDLER_MODULES

MARKETER = Principal(id="mk", name="市场", role="marketing", scope="all")
LOGIN_30 = {"rules": [{"field": "event", "op": "did", "value": "login", "window": {"last_days": 30}}]}
BABY_2 = {
    "rules": [
        {"field": "orders.count", "op": "gte", "value": 2, "window": {"last_days": 90}, "where": {"category": "母婴"}}
    ]
}


def _tags(db: Database, planted: Planted, tag: str) -> dict[str, str]:
    """name -> source of everyone holding the tag."""
    with db.unit_of_work(read_only=True) as session:
        rows = session.execute(select(CustomerTag.customer_id, CustomerTag.source).where(CustomerTag.tag == tag))
        by_id = {v: k for k, v in planted.ids.items()}
        return {by_id[cid]: source for cid, source in rows}


def _history(db: Database, planted: Planted, tag: str) -> list[tuple[str, str, str, str]]:
    with db.unit_of_work(read_only=True) as session:
        rows = session.scalars(
            select(CustomerTagHistory).where(CustomerTagHistory.tag == tag).order_by(CustomerTagHistory.id)
        )
        by_id = {v: k for k, v in planted.ids.items()}
        return [(by_id[r.customer_id], r.action, r.source, r.actor_id) for r in rows]


def _create(db: Database, code: str, tag: str, conditions: dict[str, Any], actor: Principal = MARKETER) -> str:
    with db.unit_of_work() as session:
        return tag_rules.create_rule(session, actor, TagRuleIn(code=code, tag=tag, conditions=conditions)).id


def test_a_new_rule_tags_its_matches_and_keeps_manual_tags(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    with db.unit_of_work() as session:
        notes.add_tag(session, SYSTEM, planted.ids["张伟"], "宝妈")  # manual, and a match
        notes.add_tag(session, SYSTEM, planted.ids["赵强"], "宝妈")  # manual, not a match
    rule_id = _create(db, "baby_twice", "宝妈", BABY_2)
    assert _tags(db, planted, "宝妈") == {"张伟": "manual", "赵强": "manual"}
    # 李娜 buys a second 母婴 item: the next run tags her; 赵强's manual tag stays.
    with db.unit_of_work() as session:
        post_order(
            session,
            customer_id=planted.ids["李娜"],
            amount="50.00",
            external_id="L3",
            occurred_at=NOW - timedelta(days=1),
            lines=[{"category": "母婴", "quantity": 1, "unit_price": "50"}],
        )
    with db.unit_of_work() as session:
        result = tag_rules.run_rule(session, MARKETER, rule_id)
    assert (result.matched, result.added, result.removed) == (2, 1, 0)
    assert _tags(db, planted, "宝妈") == {"张伟": "manual", "赵强": "manual", "李娜": "rule"}
    # Time passes: 张伟's first order leaves the window (manual tag kept), 李娜 still has two.
    frozen.advance(timedelta(days=6))
    with db.unit_of_work() as session:
        result = tag_rules.run_rule(session, MARKETER, rule_id)
    assert (result.matched, result.added, result.removed) == (1, 0, 0)
    frozen.advance(timedelta(days=80))
    with db.unit_of_work() as session:
        result = tag_rules.run_rule(session, MARKETER, rule_id)
    assert (result.matched, result.added, result.removed) == (0, 0, 1)
    assert _tags(db, planted, "宝妈") == {"张伟": "manual", "赵强": "manual"}
    assert _history(db, planted, "宝妈") == [
        ("张伟", "add", "manual", "system"),
        ("赵强", "add", "manual", "system"),
        ("李娜", "add", "rule:baby_twice", "mk"),
        ("李娜", "remove", "rule:baby_twice", "mk"),
    ]


def test_refresh_is_exact_and_idempotent(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    rule_id = _create(
        db,
        "vip_female",
        "女VIP",
        {"rules": [{"field": "gender", "op": "eq", "value": "female"}, {"field": "tag", "op": "has", "value": "VIP"}]},
    )
    assert _tags(db, planted, "女VIP") == {"王芳": "rule"}
    with db.unit_of_work() as session:
        again = tag_rules.run_rule(session, MARKETER, rule_id)
    assert (again.matched, again.added, again.removed) == (1, 0, 0)
    with db.unit_of_work() as session:
        notes.add_tag(session, SYSTEM, planted.ids["李娜"], "VIP")
        notes.remove_tag(session, SYSTEM, planted.ids["王芳"], "VIP")
    assert tag_rules.refresh_all(db) == [
        tag_rules.RunResult(rule="vip_female", tag="女VIP", matched=1, added=1, removed=1)
    ]
    assert _tags(db, planted, "女VIP") == {"李娜": "rule"}


def test_events_arriving_refresh_the_rules_for_their_customers(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    _create(db, "active_login", "活跃", LOGIN_30)
    assert _tags(db, planted, "活跃") == {"张伟": "rule"}
    with db.unit_of_work() as session:
        result = events.ingest(
            session,
            SYSTEM,
            [
                {
                    "event_id": "new-1",
                    "type": "login",
                    "customer_id": planted.ids["赵强"],
                    "occurred_at": NOW.isoformat(),
                }
            ],
        )
        assert result.count("accepted") == 1
    outbox.dispatch_pending(db)
    assert _tags(db, planted, "活跃") == {"张伟": "rule", "赵强": "rule"}
    # A handler run only looks at the customers it is told about: 张伟 stays until a full run.
    frozen.advance(timedelta(days=2))
    with db.unit_of_work() as session:
        outbox.emit(session, "customer.events_recorded", {"customer_ids": [planted.ids["赵强"]], "types": ["login"]})
    outbox.dispatch_pending(db)
    assert _tags(db, planted, "活跃") == {"张伟": "rule", "赵强": "rule"}
    assert tag_rules.refresh_all(db)[0].removed == 1
    assert _tags(db, planted, "活跃") == {"赵强": "rule"}


def test_orders_refresh_the_rules_for_their_customer(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    _create(db, "baby_twice", "宝妈", BABY_2)
    assert _tags(db, planted, "宝妈") == {"张伟": "rule"}
    with db.unit_of_work() as session:
        post_order(
            session,
            customer_id=planted.ids["李娜"],
            amount="50.00",
            external_id="L3",
            occurred_at=NOW,
            lines=[{"category": "母婴", "quantity": 1, "unit_price": "50"}],
        )
    outbox.dispatch_pending(db)
    assert _tags(db, planted, "宝妈") == {"张伟": "rule", "李娜": "rule"}


def test_changing_switching_off_and_deleting_a_rule(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    rule_id = _create(db, "vip", "贵宾", {"rules": [{"field": "tag", "op": "has", "value": "VIP"}]})
    with db.unit_of_work() as session:
        notes.add_tag(session, SYSTEM, planted.ids["赵强"], "大客户")
    assert _tags(db, planted, "贵宾") == {"张伟": "rule", "王芳": "rule"}
    with db.unit_of_work() as session:
        tag_rules.update_rule(session, MARKETER, rule_id, TagRuleUpdate(tag="大客户"))
    assert _tags(db, planted, "贵宾") == {}
    assert _tags(db, planted, "大客户") == {"张伟": "rule", "王芳": "rule", "赵强": "manual"}
    with db.unit_of_work() as session:
        tag_rules.update_rule(
            session,
            MARKETER,
            rule_id,
            TagRuleUpdate(conditions={"rules": [{"field": "city", "op": "eq", "value": "北京"}]}),
        )
    assert _tags(db, planted, "大客户") == {"李娜": "rule", "赵强": "manual"}
    with db.unit_of_work() as session:
        tag_rules.update_rule(session, MARKETER, rule_id, TagRuleUpdate(active=False))
    assert _tags(db, planted, "大客户") == {"赵强": "manual"}
    with db.unit_of_work() as session:
        tag_rules.update_rule(session, MARKETER, rule_id, TagRuleUpdate(active=True))
        tag_rules.delete_rule(session, MARKETER, rule_id)
    assert _tags(db, planted, "大客户") == {"赵强": "manual"}
    assert [h for h in _history(db, planted, "大客户") if h[0] == "李娜"] == [
        ("李娜", "add", "rule:vip", "mk"),
        ("李娜", "remove", "rule:vip", "mk"),
        ("李娜", "add", "rule:vip", "mk"),
        ("李娜", "remove", "rule:vip", "mk"),
    ]


def test_bad_rules_are_refused_and_change_nothing(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    _create(db, "vip", "贵宾", {"rules": [{"field": "tag", "op": "has", "value": "VIP"}]})
    with pytest.raises(Conflict) as conflict, db.unit_of_work() as session:
        tag_rules.create_rule(session, MARKETER, TagRuleIn(code="vip", tag="贵宾", conditions=LOGIN_30))
    assert [e.field for e in conflict.value.errors] == ["code", "tag"]
    with pytest.raises(ValidationFailed) as invalid, db.unit_of_work() as session:
        tag_rules.create_rule(
            session, MARKETER, TagRuleIn(code="x", tag="x", conditions={"rules": [{"field": "age", "op": "gt"}]})
        )
    assert [e.field for e in invalid.value.errors] == ["conditions.rules[0].value"]
    analyst = Principal(id="an", name="分析", role="analyst", scope="all")
    with pytest.raises(PermissionDenied), db.unit_of_work() as session:
        tag_rules.create_rule(session, analyst, TagRuleIn(code="y", tag="y", conditions=LOGIN_30))
    assert _tags(db, planted, "x") == {} and _tags(db, planted, "y") == {}
