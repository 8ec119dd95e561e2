"""The condition language: shapes, values and the paths of its errors (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from guanxi.marketing import conditions
from guanxi.marketing.conditions import ConditionError, FieldSpec, age_bounds, parse, register_field


def _problems(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(ConditionError) as info:
        parse(raw)
    return [(p.path, p.code) for p in info.value.problems]


def test_a_nested_definition_parses_with_coerced_values() -> None:
    group = parse(
        {
            "match": "all",
            "rules": [
                {"field": "city", "op": "eq", "value": " 上海 "},
                {"field": "created_at", "op": "after", "value": "2026-01-01T00:00:00+08:00"},
            ],
            "groups": [
                {
                    "match": "any",
                    "rules": [
                        {
                            "field": "orders.total",
                            "op": "gte",
                            "value": "199.5",
                            "window": {"last_days": 90},
                            "where": {"category": "母婴"},
                        },
                        {"field": "event", "op": "did", "value": "login", "min_count": 3, "window": {"last_days": 7}},
                    ],
                }
            ],
        }
    )
    assert group.match == "all"
    assert [r.value for r in group.rules] == ["上海", datetime(2025, 12, 31, 16, 0, tzinfo=UTC)]
    total, event = group.groups[0].rules
    assert total.value == Decimal("199.5") and total.where == (("category", "母婴"),)
    assert total.window is not None and total.window.last_days == 90
    assert event.min_count == 3
    assert event.path == "conditions.groups[0].rules[1]"


def test_errors_name_the_path_and_say_what_is_wrong() -> None:
    problems = _problems(
        {
            "groups": [
                {
                    "rules": [
                        {"field": "city", "op": "eq", "value": "上海"},
                        {"field": "gender", "op": "eq", "value": "robot"},
                        {"field": "nope", "op": "eq", "value": 1},
                        {"field": "age", "op": "gt", "value": "twelve"},
                        {"field": "tag", "op": "starts", "value": "x"},
                        {"field": "orders.count", "op": "gte", "value": 1, "where": {"colour": "red"}},
                        {"field": "city", "op": "eq", "value": "x", "window": {"last_days": 3}},
                    ]
                }
            ]
        }
    )
    assert problems == [
        ("conditions.groups[0].rules[1].value", "not_a_choice"),
        ("conditions.groups[0].rules[2].field", "unknown_field"),
        ("conditions.groups[0].rules[3].value", "not_an_integer"),
        ("conditions.groups[0].rules[4].op", "unknown_operator"),
        ("conditions.groups[0].rules[5].where.colour", "unknown_filter"),
        ("conditions.groups[0].rules[6].window", "not_allowed"),
    ]


def test_shape_errors_come_from_the_schema_with_their_path() -> None:
    problems = _problems({"match": "some", "rules": [{"field": "city", "op": "eq", "value": "x", "extra": 1}]})
    assert problems == [("conditions.match", "literal_error"), ("conditions.rules[0].extra", "extra_forbidden")]


@pytest.mark.parametrize(
    ("rule", "path", "code"),
    [
        ({"field": "city", "op": "in", "value": "上海"}, "conditions.rules[0].value", "not_a_list"),
        ({"field": "age", "op": "between", "value": [40, 30]}, "conditions.rules[0].value", "invalid_range"),
        ({"field": "age", "op": "between", "value": [1, 2, 3]}, "conditions.rules[0].value", "invalid_range"),
        ({"field": "city", "op": "is_set", "value": "x"}, "conditions.rules[0].value", "not_allowed"),
        ({"field": "city", "op": "eq"}, "conditions.rules[0].value", "required"),
        ({"field": "birthday_month", "op": "eq", "value": 13}, "conditions.rules[0].value", "out_of_range"),
        ({"field": "birthday", "op": "after", "value": "2026-13-01"}, "conditions.rules[0].value", "not_a_date"),
        (
            {"field": "created_at", "op": "after", "value": "2026-01-01T00:00"},
            "conditions.rules[0].value",
            "naive_datetime",
        ),
        (
            {"field": "loyalty.points_balance", "op": "gte", "value": True},
            "conditions.rules[0].value",
            "not_an_integer",
        ),
        ({"field": "orders.total", "op": "gte", "value": "NaN"}, "conditions.rules[0].value", "out_of_range"),
        ({"field": "event", "op": "did", "value": "login", "window": {}}, "conditions.rules[0].window", "empty_window"),
        (
            {"field": "event", "op": "did", "value": "login", "window": {"last_days": 3, "since": "2026-01-01T00:00Z"}},
            "conditions.rules[0].window",
            "ambiguous_window",
        ),
        (
            {
                "field": "event",
                "op": "did",
                "value": "login",
                "window": {"since": "2026-02-01T00:00Z", "until": "2026-01-01T00:00Z"},
            },
            "conditions.rules[0].window.until",
            "invalid_range",
        ),
        ({"field": "city", "op": "eq", "value": "x", "min_count": 2}, "conditions.rules[0].min_count", "not_allowed"),
        ({"field": "consent", "op": "granted", "value": "sms"}, "conditions.rules[0].field", "consent_unavailable"),
        ({"field": "identity", "op": "has", "value": "qq"}, "conditions.rules[0].value", "not_a_choice"),
    ],
)
def test_each_bad_value_gets_its_own_code(rule: dict[str, Any], path: str, code: str) -> None:
    assert _problems({"rules": [rule]}) == [(path, code)]


def test_empty_groups_too_deep_and_too_many_rules_are_refused() -> None:
    assert _problems({"rules": []}) == [("conditions", "empty_group")]
    deep: dict[str, Any] = {"rules": [{"field": "city", "op": "is_set"}]}
    for _ in range(conditions.MAX_DEPTH):
        deep = {"groups": [deep]}
    assert _problems(deep) == [("conditions" + ".groups[0]" * conditions.MAX_DEPTH, "too_deep")]
    many = {"groups": [{"rules": [{"field": "city", "op": "is_set"}] * 60} for _ in range(2)]}
    assert _problems(many) == [("conditions", "too_many_rules")]


def test_nul_characters_are_refused() -> None:
    assert _problems({"rules": [{"field": "city", "op": "eq", "value": "上\x00海"}]}) == [
        ("conditions", "nul_character")
    ]


def test_registered_fields_join_the_language() -> None:
    spec = FieldSpec("score.test_rfm", "custom", "integer", conditions.NUMBER_OPS, "RFM", "RFM", group="scores")
    register_field(spec)
    try:
        group = parse({"rules": [{"field": "score.test_rfm", "op": "gte", "value": 4}]})
        assert group.rules[0].spec is spec
        with pytest.raises(ValueError, match="already registered"):
            register_field(spec)
        assert "score.test_rfm" in [f["field"] for f in conditions.fields_catalog("en")]
    finally:
        conditions.FIELDS.pop("score.test_rfm")


def test_age_bounds_follow_birthdays_including_29_february() -> None:
    today = date(2026, 11, 23)
    assert age_bounds(today, "eq", 30) == (date(1995, 11, 24), date(1996, 11, 23))
    assert age_bounds(today, "gte", 18) == (None, date(2008, 11, 23))
    assert age_bounds(today, "lt", 18) == (date(2008, 11, 24), None)
    assert age_bounds(today, "between", (20, 29)) == (date(1996, 11, 24), date(2006, 11, 23))
    assert conditions.years_before(date(2028, 2, 29), 1) == date(2027, 2, 28)


def test_the_catalog_hides_consent_until_a_ledger_exists() -> None:
    fields = {f["field"]: f for f in conditions.fields_catalog("zh-CN")}
    assert "consent" not in fields
    assert fields["orders.count"]["where"] == ["category", "store", "channel"]
    assert fields["tag"]["label"] == "标签"
