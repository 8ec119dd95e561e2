"""Each kind of condition, compiled to SQL, matches exactly the planted customers it should."""

from __future__ import annotations

from typing import Any

import pytest

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import Principal
from tests.integration.marketing.planted import EAST, frozen, matching, plant

__all__ = ["frozen"]


def _rule(field: str, op: str, value: Any = None, **more: Any) -> dict[str, Any]:
    rule = {"field": field, "op": op, **more}
    if value is not None:
        rule["value"] = value
    return {"rules": [rule]}


CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("city eq", _rule("city", "eq", "上海"), {"张伟", "王芳"}),
    ("city ne keeps unknown cities", _rule("city", "ne", "上海"), {"李娜", "赵强"}),
    ("city in", _rule("city", "in", ["北京", "广州"]), {"李娜"}),
    ("city not_in", _rule("city", "not_in", ["北京"]), {"张伟", "王芳", "赵强"}),
    ("city is_not_set", _rule("city", "is_not_set"), {"赵强"}),
    ("gender", _rule("gender", "eq", "female"), {"李娜", "王芳"}),
    ("source channel", _rule("source_channel", "in", ["wechat", "web"]), {"张伟", "赵强"}),
    ("preferred channel", _rule("preferred_channel", "eq", "sms"), {"赵强"}),
    ("birthday before", _rule("birthday", "before", "1990-05-10"), {"赵强"}),
    ("birthday between", _rule("birthday", "between", ["1990-05-10", "2000-11-30"]), {"张伟", "李娜"}),
    ("birthday is_set", _rule("birthday", "is_set"), {"张伟", "李娜", "赵强"}),
    ("birthday month", _rule("birthday_month", "in", [2, 5]), {"张伟", "赵强"}),
    ("age 25 on the eve of a birthday", _rule("age", "eq", 25), {"李娜"}),
    ("age gte 36", _rule("age", "gte", 36), {"张伟", "赵强"}),
    ("age between", _rule("age", "between", [20, 40]), {"张伟", "李娜"}),
    ("age ne", _rule("age", "ne", 25), {"张伟", "赵强"}),
    ("created within", _rule("created_at", "within_last_days", 1), {"张伟", "李娜", "王芳", "赵强"}),
    ("created after now", _rule("created_at", "after", "2026-11-21T00:00:00+08:00"), set()),
    ("identity has", _rule("identity", "has", "wechat_unionid"), {"张伟"}),
    ("identity has_not", _rule("identity", "has_not", "phone"), {"王芳", "赵强"}),
    ("tag has", _rule("tag", "has", "VIP"), {"张伟", "王芳"}),
    ("tag has_not", _rule("tag", "has_not", "VIP"), {"李娜", "赵强"}),
    ("tag has_any", _rule("tag", "has_any", ["新客", "none"]), {"王芳"}),
    ("member", _rule("loyalty.tier", "is_set"), {"张伟", "李娜", "王芳"}),
    ("not a member", _rule("loyalty.tier", "is_not_set"), {"赵强"}),
    ("points", _rule("loyalty.points_balance", "gte", 1000), {"王芳"}),
    ("points below: members only", _rule("loyalty.points_balance", "lt", 1000), {"张伟", "李娜"}),
    ("lifetime earned", _rule("loyalty.lifetime_earned", "eq", 200), {"张伟", "李娜"}),
    (
        "bought 母婴 at least twice in 90 days (edge included)",
        _rule("orders.count", "gte", 2, window={"last_days": 90}, where={"category": "母婴"}),
        {"张伟"},
    ),
    (
        "bought 母婴 in 90 days",
        _rule("orders.count", "gte", 1, window={"last_days": 90}, where={"category": "母婴"}),
        {"张伟", "李娜"},
    ),
    ("orders all time", _rule("orders.count", "eq", 2), {"张伟", "李娜"}),
    (
        "no order in 90 days includes people without orders",
        _rule("orders.count", "eq", 0, window={"last_days": 4}),
        {"张伟", "李娜", "赵强"},
    ),
    (
        "fewer than 2 母婴 orders",
        _rule("orders.count", "lt", 2, window={"last_days": 90}, where={"category": "母婴"}),
        {"李娜", "王芳", "赵强"},
    ),
    ("spent at least 1000", _rule("orders.total", "gte", "1000"), {"王芳"}),
    ("spent in a store", _rule("orders.total", "between", [150, 250], where={"store": "SH01"}), {"张伟"}),
    (
        "absolute window",
        _rule("orders.count", "gte", 1, window={"since": "2026-08-22T02:00:00Z", "until": "2026-11-11T02:00:00Z"}),
        {"张伟", "李娜"},
    ),
    ("login in 30 days (edge included)", _rule("event", "did", "login", window={"last_days": 30}), {"张伟"}),
    ("login ever", _rule("event", "did", "login"), {"张伟", "李娜"}),
    (
        "no login in 30 days",
        _rule("event", "did_not", "login", window={"last_days": 30}),
        {"李娜", "王芳", "赵强"},
    ),
    ("3 page views in 7 days", _rule("event", "did", "page_view", min_count=3, window={"last_days": 7}), {"王芳"}),
    ("viewed home twice", _rule("event", "did", "page_view", min_count=2, where={"page": "home"}), {"王芳"}),
    ("viewed home", _rule("event", "did", "page_view", where={"page": "home"}), {"王芳", "赵强"}),
]


@pytest.mark.parametrize(("label", "definition", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_leaf_matches_exactly(
    db: Database, frozen: clock.FrozenClock, label: str, definition: dict[str, Any], expected: set[str]
) -> None:
    planted = plant(db)
    assert planted.names(matching(db, definition)) == expected


def test_and_or_nesting(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    definition = {
        "match": "any",
        "rules": [{"field": "preferred_channel", "op": "eq", "value": "sms"}],
        "groups": [
            {
                "match": "all",
                "rules": [
                    {"field": "tag", "op": "has", "value": "VIP"},
                    {"field": "event", "op": "did", "value": "login", "window": {"last_days": 30}},
                ],
            },
            {
                "match": "all",
                "rules": [{"field": "gender", "op": "eq", "value": "female"}],
                "groups": [{"match": "any", "rules": [{"field": "city", "op": "eq", "value": "北京"}]}],
            },
        ],
    }
    assert planted.names(matching(db, definition)) == {"赵强", "张伟", "李娜"}
    definition["match"] = "all"
    assert planted.names(matching(db, definition)) == set()


def test_windows_move_with_the_clock(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    login = _rule("event", "did", "login", window={"last_days": 30})
    baby = _rule("orders.count", "gte", 2, window={"last_days": 90}, where={"category": "母婴"})
    frozen.advance(__import__("datetime").timedelta(seconds=1))
    assert planted.names(matching(db, login)) == set()
    assert planted.names(matching(db, baby)) == set()


def test_the_row_scope_restricts_every_condition(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    assert planted.names(matching(db, _rule("tag", "has_not", "none"), EAST)) == {"张伟", "王芳"}
    assert planted.names(matching(db, _rule("event", "did", "login"), EAST)) == {"张伟"}
    own = Principal(id="nobody", name="x", role="sales", scope="own")
    assert matching(db, _rule("city", "is_set"), own) == set()


def test_deleted_customers_never_match(db: Database, frozen: clock.FrozenClock) -> None:
    planted = plant(db)
    assert "删除" not in planted.names(matching(db, _rule("event", "did", "login")))
    assert planted.names(matching(db, _rule("tag", "has", "VIP"))) == {"张伟", "王芳"}


def test_property_filters_compare_json_values_without_casting(db: Database, frozen: clock.FrozenClock) -> None:
    from sqlalchemy import insert

    from guanxi.customers.event_models import CustomerEvent
    from guanxi.kit.models import table_of

    planted = plant(db)
    at = clock.now()
    rows = [
        ("r1", planted.ids["张伟"], {"rating": 5, "text": "好"}),
        ("r2", planted.ids["李娜"], {"rating": "5", "text": "5"}),
        ("r3", planted.ids["王芳"], {"rating": 5.0, "verified": True}),
        ("r4", planted.ids["赵强"], {"rating": "abc", "verified": 1}),
    ]
    with db.unit_of_work() as session:
        session.execute(
            insert(table_of(CustomerEvent)),
            [
                {
                    "event_id": e,
                    "type": "review",
                    "customer_id": c,
                    "occurred_at": at,
                    "received_at": at,
                    "properties": p,
                }
                for e, c, p in rows
            ],
        )

    def who(where: dict[str, Any]) -> set[str]:
        return planted.names(matching(db, _rule("event", "did", "review", where=where)))

    assert who({"rating": 5}) == {"张伟", "王芳"}
    assert who({"rating": "5"}) == {"李娜"}
    assert who({"text": "好"}) == {"张伟"}
    assert who({"verified": True}) == {"王芳"}
    assert who({"rating": 4}) == set()
