"""Rule definitions: what parses, and what is refused with the field at fault."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from typing import Any

import pytest

from guanxi.loyalty.rules.engine import (
    ActionBonusRule,
    BaseRateRule,
    CampaignMultiplierRule,
    RuleError,
    TierMultiplierRule,
    default_rules,
    parse_rule,
    parse_rules,
)


def errors_of(definition: Any) -> list[tuple[str, str]]:
    with pytest.raises(RuleError) as caught:
        parse_rule(definition)
    return caught.value.errors


def test_default_rules() -> None:
    base, tier = default_rules()
    assert isinstance(base, BaseRateRule) and isinstance(tier, TierMultiplierRule)
    assert (base.code, base.points, base.per_amount, base.rounding, base.currency) == (
        "base_rate",
        Decimal(1),
        Decimal(1),
        "floor",
        "CNY",
    )
    assert base.priority < tier.priority


def test_every_rule_survives_a_json_round_trip() -> None:
    definitions: list[dict[str, Any]] = [
        {
            "kind": "base_rate",
            "code": "base",
            "name": "消费积分",
            "points": "2",
            "per_amount": "10",
            "rounding": "ceil",
        },
        {"kind": "minimum_order", "code": "min", "name": "满50", "min_amount": "50.00"},
        {"kind": "exclusion", "code": "ex", "name": "烟草除外", "categories": ["tobacco"], "skus": ["GC-1"]},
        {"kind": "tier_multiplier", "code": "tier", "name": "等级加倍"},
        {"kind": "category_multiplier", "code": "cat", "name": "服装双倍", "categories": ["apparel"], "multiplier": 2},
        {
            "kind": "campaign_multiplier",
            "code": "camp",
            "name": "周五三倍",
            "multiplier": "3",
            "weekdays": [5],
            "dates": ["2026-11-11"],
            "holidays": True,
            "start_time": "10:00",
            "end_time": "14:00",
            "channels": ["wechat"],
            "stores": ["sh-001"],
            "daily_cap": 500,
            "campaign_cap": 5000,
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
            "stop_further": True,
            "priority": 10,
        },
        {"kind": "birthday_bonus", "code": "bday", "name": "生日月", "multiplier": "2", "bonus_points": 100},
        {
            "kind": "action_bonus",
            "code": "checkin",
            "name": "签到",
            "action": "checkin",
            "points": 5,
            "streak_bonuses": {"7": 20, "30": 100},
        },
        {"kind": "daily_cap", "code": "cap", "name": "每日上限", "max_points": 5000},
    ]
    for definition in definitions:
        parsed = parse_rule(definition)
        assert parsed.kind == definition["kind"]
        assert parse_rule(parsed.model_dump(mode="json")) == parsed
    assert [r.code for r in parse_rules(definitions)] == [d["code"] for d in definitions]


def test_parsed_values_are_typed() -> None:
    campaign = parse_rule(
        {
            "kind": "campaign_multiplier",
            "code": "c",
            "name": "c",
            "multiplier": 1.5,
            "dates": ["2026-10-01"],
            "start_time": "10:00",
            "end_time": "14:00",
        }
    )
    assert isinstance(campaign, CampaignMultiplierRule)
    assert campaign.multiplier == Decimal("1.5")  # a JSON float becomes the Decimal it reads as
    assert campaign.dates == [date(2026, 10, 1)]
    assert (campaign.start_time, campaign.end_time) == (time(10), time(14))
    checkin = parse_rule(
        {
            "kind": "action_bonus",
            "code": "c",
            "name": "c",
            "action": "checkin",
            "points": 1,
            "streak_bonuses": {"7": 20},
        }
    )
    assert isinstance(checkin, ActionBonusRule) and checkin.streak_bonuses == {7: 20}
    assert parse_rule({"kind": "tier_multiplier", "code": "t", "name": "  等级  "}).name == "等级"


def test_rules_are_immutable() -> None:
    base = default_rules()[0]
    with pytest.raises(ValueError, match="frozen"):
        base.priority = 1  # type: ignore[misc]


def test_field_errors_name_every_problem() -> None:
    errors = errors_of(
        {
            "kind": "campaign_multiplier",
            "code": "Friday X3",
            "name": "",
            "multiplier": 0,
            "weekdays": [5, 8],
            "colour": "red",
        }
    )
    assert errors == [
        ("code", "String should match pattern '^[a-z0-9_-]{1,40}$'"),
        ("name", "String should have at least 1 character"),
        ("multiplier", "Input should be greater than 0"),
        ("weekdays[1]", "Input should be less than or equal to 7"),
        ("colour", "Extra inputs are not permitted"),
    ]


KINDS = (
    "base_rate, birthday_bonus, campaign_multiplier, category_multiplier, daily_cap, exclusion, minimum_order, "
    "tier_multiplier, action_bonus"
)


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ({"code": "x", "name": "x"}, ("kind", f"must be one of {KINDS}")),
        ({"kind": "points_for_nothing", "code": "x", "name": "x"}, ("kind", f"must be one of {KINDS}")),
        ("base_rate", ("", "a rule definition is an object")),
        ({"kind": "base_rate", "name": "x"}, ("code", "Field required")),
        (
            {"kind": "base_rate", "code": "x", "name": "x", "rounding": "bankers"},
            ("rounding", "Input should be 'floor', 'half_up' or 'ceil'"),
        ),
        (
            {"kind": "base_rate", "code": "x", "name": "x", "points": "NaN"},
            ("points", "Input should be a finite number"),
        ),
        (
            {"kind": "base_rate", "code": "x", "name": "x", "per_amount": "0"},
            ("per_amount", "Input should be greater than 0"),
        ),
        (
            {"kind": "base_rate", "code": "x", "name": "x", "currency": "rmb"},
            ("currency", "String should match pattern '^[A-Z]{3}$'"),
        ),
        (
            {"kind": "base_rate", "code": "x", "name": "x", "priority": -1},
            ("priority", "Input should be greater than or equal to 0"),
        ),
        ({"kind": "base_rate", "code": "x", "name": "x" * 101}, ("name", "String should have at most 100 characters")),
        (
            {"kind": "base_rate", "code": "x", "name": "x", "channels": []},
            ("channels", "List should have at least 1 item after validation, not 0"),
        ),
        (
            {"kind": "base_rate", "code": "x", "name": "x", "channels": ["wechat", ""]},
            ("channels[1]", "String should have at least 1 character"),
        ),
        (
            {"kind": "base_rate", "code": "x", "name": "x", "valid_from": "2026-05-01", "valid_to": "2026-04-30"},
            ("valid_to", "must not be before valid_from 2026-05-01"),
        ),
        (
            {"kind": "base_rate", "code": "x", "name": "x", "daily_cap": 0},
            ("daily_cap", "Input should be greater than or equal to 1"),
        ),
        (
            {"kind": "minimum_order", "code": "x", "name": "x", "min_amount": "0"},
            ("min_amount", "Input should be greater than 0"),
        ),
        (
            {"kind": "minimum_order", "code": "x", "name": "x", "min_amount": "50", "daily_cap": 10},
            ("daily_cap", "only rules that award points take a cap"),
        ),
        ({"kind": "exclusion", "code": "x", "name": "x"}, ("categories", "give at least one category or SKU")),
        (
            {"kind": "exclusion", "code": "x", "name": "x", "skus": ["A"], "campaign_cap": 5},
            ("campaign_cap", "only rules that award points take a cap"),
        ),
        (
            {"kind": "category_multiplier", "code": "x", "name": "x", "multiplier": "2"},
            ("categories", "give at least one category or SKU"),
        ),
        (
            {"kind": "category_multiplier", "code": "x", "name": "x", "categories": ["a"], "multiplier": "1.00001"},
            ("multiplier", "Decimal input should have no more than 4 decimal places"),
        ),
        (
            {"kind": "category_multiplier", "code": "x", "name": "x", "categories": ["a"], "multiplier": "101"},
            ("multiplier", "Input should be less than or equal to 100"),
        ),
        (
            {"kind": "campaign_multiplier", "code": "x", "name": "x", "multiplier": "2"},
            ("weekdays", "give weekdays, dates, holidays, a time window or a validity period"),
        ),
        (
            {"kind": "campaign_multiplier", "code": "x", "name": "x", "multiplier": "2", "weekdays": [5, 5]},
            ("weekdays", "lists a weekday twice"),
        ),
        (
            {"kind": "campaign_multiplier", "code": "x", "name": "x", "multiplier": "2", "start_time": "10:00"},
            ("end_time", "give both start_time and end_time, or neither"),
        ),
        (
            {
                "kind": "campaign_multiplier",
                "code": "x",
                "name": "x",
                "multiplier": "2",
                "start_time": "10:00",
                "end_time": "10:00",
            },
            ("end_time", "must differ from start_time"),
        ),
        (
            {
                "kind": "campaign_multiplier",
                "code": "x",
                "name": "x",
                "multiplier": "2",
                "start_time": "10:00+08:00",
                "end_time": "12:00",
            },
            ("start_time", "is a local time: leave out the zone"),
        ),
        (
            {"kind": "campaign_multiplier", "code": "x", "name": "x", "multiplier": "2", "dates": ["2026-02-30"]},
            ("dates[0]", "Input should be a valid date or datetime, day value is outside expected range"),
        ),
        (
            {"kind": "birthday_bonus", "code": "x", "name": "x"},
            ("multiplier", "a birthday bonus needs a multiplier other than 1 or bonus_points"),
        ),
        (
            {"kind": "birthday_bonus", "code": "x", "name": "x", "bonus_points": -5},
            ("bonus_points", "Input should be greater than or equal to 0"),
        ),
        (
            {"kind": "action_bonus", "code": "x", "name": "x", "action": "share", "points": 0},
            ("points", "give points or streak_bonuses"),
        ),
        (
            {"kind": "action_bonus", "code": "x", "name": "x", "action": "Share!", "points": 1},
            ("action", "String should match pattern '^[a-z0-9_-]{1,40}$'"),
        ),
        (
            {
                "kind": "action_bonus",
                "code": "x",
                "name": "x",
                "action": "share",
                "points": 1,
                "streak_bonuses": {"7": 2},
            },
            ("streak_bonuses", "streaks count check-ins only: use them with the checkin action"),
        ),
        (
            {
                "kind": "action_bonus",
                "code": "x",
                "name": "x",
                "action": "checkin",
                "points": 1,
                "streak_bonuses": {"week": 2},
            },
            ("streak_bonuses.week", "Input should be a valid integer, unable to parse string as an integer"),
        ),
        (
            {
                "kind": "action_bonus",
                "code": "x",
                "name": "x",
                "action": "checkin",
                "points": 1,
                "streak_bonuses": {"7": 0},
            },
            ("streak_bonuses.7", "Input should be greater than or equal to 1"),
        ),
        (
            {"kind": "action_bonus", "code": "x", "name": "x", "action": "share", "points": 1, "stores": ["sh-001"]},
            ("stores", "actions happen in no store: leave stores out"),
        ),
        (
            {"kind": "daily_cap", "code": "x", "name": "x", "max_points": 10, "stop_further": True},
            ("stop_further", "a daily cap is applied after all earning and stops nothing"),
        ),
        ({"kind": "daily_cap", "code": "x", "name": "x"}, ("max_points", "Field required")),
    ],
)
def test_malformed_rules_name_the_field(definition: Any, expected: tuple[str, str]) -> None:
    assert errors_of(definition) == [expected]


def test_rule_error_reads_as_one_message() -> None:
    error = RuleError([("code", "bad"), ("", "not an object")])
    assert str(error) == "code: bad; not an object"
    assert isinstance(error, ValueError)


def test_parse_rules_prefixes_the_index_and_refuses_duplicate_codes() -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules(
            [
                {"kind": "base_rate", "code": "base", "name": "a"},
                {"kind": "tier_multiplier", "code": "tier", "name": ""},
                {"kind": "base_rate", "code": "base", "name": "b"},
                "nonsense",  # type: ignore[list-item]
            ]
        )
    assert caught.value.errors == [
        ("[1].name", "String should have at least 1 character"),
        ("[2].code", "duplicates the code of [0]"),
        ("[3]", "a rule definition is an object"),
    ]
