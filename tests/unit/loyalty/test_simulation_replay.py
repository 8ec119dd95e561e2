"""One simulation replay without a database: upgrades on growth, rolling spend windows, caps
remembered per day, points per category, and the integer split that matches `allocate`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from guanxi.loyalty.insights.replay import Replay
from guanxi.loyalty.rules import engine as rules
from guanxi.loyalty.rules import tiering

LADDER = [
    tiering.TierDef(code="basic", name="普通", rank=0, threshold=Decimal(0)),
    tiering.TierDef(code="silver", name="银卡", rank=1, threshold=Decimal(100), points_multiplier=Decimal(2)),
]

Lines = list[tuple[str | None, str]]


def _order(amount: str, day: date, lines: Lines | None = None) -> rules.OrderFacts:
    paid = Decimal(amount)
    facts = [rules.LineFacts(sku=None, category=c, quantity=1, amount=Decimal(a)) for c, a in lines or [(None, amount)]]
    return rules.OrderFacts(
        paid_amount=paid,
        currency="CNY",
        local_date=day,
        local_time=time(10),
        channel=None,
        store=None,
        lines=tuple(facts),
    )


def _apply(replay: Replay, account: str, amount: str, day: date, lines: Lines | None = None) -> int:
    facts = _order(amount, day, lines)
    categories = [line.category or "(none)" for line in facts.lines]
    at = datetime.combine(day, time(2), tzinfo=UTC)
    return replay.order(account, facts, categories, None, at, Decimal(amount))[1].points


def test_growth_upgrades_after_the_order_that_crosses_the_threshold() -> None:
    replay = Replay(rules.default_rules(), LADDER, growth_per_amount=Decimal(1), caps=False)
    assert _apply(replay, "a", "80", date(2026, 1, 5)) == 80
    assert _apply(replay, "a", "50", date(2026, 1, 6)) == 50  # priced at basic, then silver
    assert _apply(replay, "a", "10", date(2026, 1, 7)) == 20  # silver x2
    assert _apply(replay, "b", "10", date(2026, 1, 7)) == 10
    assert replay.points == 160
    assert replay.by_rule == {"base_rate": 150, "tier_multiplier": 10}
    assert [(t.code, n) for t, n in replay.distribution()] == [("basic", 1), ("silver", 1)]
    assert replay.upgrades == 1


def test_a_spend_ladder_counts_only_the_rolling_window() -> None:
    spend = Replay(
        rules.default_rules(),
        LADDER,
        growth_per_amount=Decimal(1),
        caps=False,
        tier_basis="qualifying_spend",
        window_months=1,
    )
    growth = Replay(rules.default_rules(), LADDER, growth_per_amount=Decimal(1), caps=False)
    for replay in (spend, growth):
        _apply(replay, "a", "80", date(2026, 1, 5))
        _apply(replay, "a", "50", date(2026, 3, 10))
    assert spend.members["a"].spend_total == Decimal(50)
    assert spend.members["a"].tier == "basic"
    assert growth.members["a"].tier == "silver"


def test_caps_remember_the_day_and_start_again_the_next() -> None:
    cap = rules.parse_rule({"code": "cap", "name": "每日上限", "kind": "daily_cap", "max_points": 100})
    replay = Replay([*rules.default_rules(), cap], LADDER[:1], growth_per_amount=Decimal(0), caps=True)
    assert _apply(replay, "a", "80", date(2026, 2, 1)) == 80
    assert _apply(replay, "a", "80", date(2026, 2, 1)) == 20
    assert _apply(replay, "a", "80", date(2026, 2, 2)) == 80
    assert replay.points == 180


def test_points_per_category_follow_the_lines_they_came_from() -> None:
    beauty = rules.parse_rule(
        {
            "code": "beauty",
            "name": "美妆双倍",
            "kind": "category_multiplier",
            "categories": ["beauty"],
            "multiplier": "2",
        }
    )
    replay = Replay([*rules.default_rules(), beauty], LADDER[:1], growth_per_amount=Decimal(0), caps=False)
    assert _apply(replay, "a", "100", date(2026, 2, 1), [("apparel", "60"), ("beauty", "40")]) == 140
    assert _apply(replay, "a", "30", date(2026, 2, 1), [("beauty", "10"), ("beauty", "20")]) == 60
    assert replay.by_category == {"apparel": 60, "beauty": 140}


def test_an_answer_is_reused_only_when_the_member_facts_agree() -> None:
    base = Replay(rules.default_rules(), LADDER, growth_per_amount=Decimal(1), caps=False)
    high = [
        LADDER[0],
        tiering.TierDef(code="silver", name="银卡", rank=1, threshold=Decimal(1000), points_multiplier=Decimal(2)),
    ]
    other = Replay(base.rules, high, growth_per_amount=Decimal(1), caps=False)
    totals = []
    for day, amount in ((date(2026, 1, 5), "150"), (date(2026, 1, 6), "10")):
        facts = _order(amount, day)
        at = datetime.combine(day, time(2), tzinfo=UTC)
        seen = base.order("a", facts, ["(none)"], None, at, Decimal(amount))
        mine = other.order("a", facts, ["(none)"], None, at, Decimal(amount), reuse=seen)
        totals.append((seen[1].points, mine[1].points))
    # The second order: silver (x2) in the baseline, still basic in the other ladder.
    assert totals == [(150, 150), (20, 10)]
