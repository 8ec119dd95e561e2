"""Properties of order evaluation over random orders, members and rule sets."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.loyalty.rules.engine import (
    BaseRateRule,
    BirthdayBonusRule,
    CampaignMultiplierRule,
    CategoryMultiplierRule,
    DailyCapRule,
    ExclusionRule,
    LineFacts,
    MemberFacts,
    OrderFacts,
    Rule,
    TierMultiplierRule,
    evaluate_order,
)

CATEGORIES = ("apparel", "food", "tobacco", "beauty")
amounts = st.decimals(min_value=0, max_value=20000, places=2, allow_nan=False, allow_infinity=False)
multipliers = st.decimals(min_value=Decimal("0.1"), max_value=5, places=1, allow_nan=False, allow_infinity=False)
caps = st.none() | st.integers(min_value=1, max_value=3000)

lines = st.lists(
    st.builds(
        LineFacts,
        sku=st.sampled_from([None, "SKU-1", "SKU-2"]),
        category=st.sampled_from([None, *CATEGORIES]),
        quantity=st.integers(min_value=1, max_value=5),
        amount=amounts,
    ),
    min_size=1,
    max_size=8,
)


@st.composite
def orders(draw: st.DrawFn) -> OrderFacts:
    items = tuple(draw(lines))
    return OrderFacts(
        paid_amount=sum((x.amount for x in items), Decimal(0)),
        currency="CNY",
        local_date=draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31))),
        local_time=draw(st.times()),
        channel=draw(st.sampled_from([None, "pos", "wechat"])),
        store=None,
        lines=items,
    )


@st.composite
def rule_sets(draw: st.DrawFn) -> list[Rule]:
    rules: list[Rule] = [
        BaseRateRule(
            code="base",
            name="base",
            points=draw(st.sampled_from([Decimal(1), Decimal(2), Decimal("0.5")])),
            per_amount=draw(st.sampled_from([Decimal(1), Decimal(10), Decimal(3)])),
            rounding=draw(st.sampled_from(["floor", "half_up", "ceil"])),
            daily_cap=draw(caps),
        )
    ]
    if draw(st.booleans()):
        rules.append(TierMultiplierRule(code="tier", name="tier", campaign_cap=draw(caps)))
    for i in range(draw(st.integers(min_value=0, max_value=3))):
        rules.append(
            CategoryMultiplierRule(
                code=f"cat{i}",
                name="cat",
                categories=[draw(st.sampled_from(CATEGORIES))],
                multiplier=draw(multipliers),
                priority=draw(st.integers(min_value=0, max_value=3)),
                stop_further=draw(st.booleans()),
                daily_cap=draw(caps),
            )
        )
    if draw(st.booleans()):
        rules.append(
            CampaignMultiplierRule(
                code="weekend", name="weekend", weekdays=[6, 7], holidays=True, multiplier=draw(multipliers)
            )
        )
    if draw(st.booleans()):
        rules.append(ExclusionRule(code="ex", name="ex", categories=["tobacco"]))
    if draw(st.booleans()):
        rules.append(BirthdayBonusRule(code="bday", name="bday", multiplier=Decimal(2), bonus_points=50))
    if draw(st.booleans()):
        rules.append(DailyCapRule(code="cap", name="cap", max_points=draw(st.integers(min_value=0, max_value=5000))))
    return rules


members = st.builds(
    MemberFacts,
    tier_code=st.just("gold"),
    tier_multiplier=multipliers,
    birthday=st.none() | st.dates(min_value=date(1950, 1, 1), max_value=date(2010, 12, 31)),
    earned_today=st.integers(min_value=0, max_value=6000),
    earned_by_rule=st.dictionaries(st.sampled_from(["base", "tier", "cat0"]), st.integers(0, 4000)),
    earned_today_by_rule=st.dictionaries(st.sampled_from(["base", "tier", "cat0"]), st.integers(0, 4000)),
)


@settings(max_examples=200)
@given(rule_sets(), orders(), members)
def test_evaluation_invariants(rules: list[Rule], order: OrderFacts, member: MemberFacts) -> None:
    evaluation = evaluate_order(rules, order, member)

    assert evaluation.points >= 0
    assert evaluation.points == sum(a.points for a in evaluation.awards)
    assert all(a.points != 0 for a in evaluation.awards)  # nothing listed that gives nothing
    assert all(a.trimmed >= 0 for a in evaluation.awards)

    for rule in rules:
        given_by_rule = sum(a.points for a in evaluation.awards if a.rule_code == rule.code)
        if isinstance(rule, DailyCapRule):
            assert evaluation.points <= max(rule.max_points - member.earned_today, 0)
        if rule.daily_cap is not None:
            assert given_by_rule <= max(rule.daily_cap - member.earned_today_by_rule.get(rule.code, 0), 0)
        if rule.campaign_cap is not None:
            assert given_by_rule <= max(rule.campaign_cap - member.earned_by_rule.get(rule.code, 0), 0)

    assert len(evaluation.base_by_line) == len(order.lines)
    base = [a for a in evaluation.awards if a.kind == "base_rate"]
    if base:  # a base award trimmed to nothing by a cap is no longer listed
        assert sum(evaluation.base_by_line) == base[0].points + base[0].trimmed
    for i, item in enumerate(order.lines):
        if item.category == "tobacco" and any(isinstance(r, ExclusionRule) for r in rules):
            assert evaluation.base_by_line[i] == 0


@given(orders(), members)
def test_base_points_are_the_rounded_rate_of_the_paid_amount(order: OrderFacts, member: MemberFacts) -> None:
    rule = BaseRateRule(code="base", name="base", rounding="floor")
    evaluation = evaluate_order([rule], order, member)
    assert evaluation.points == int(order.paid_amount)
    assert all(p >= 0 for p in evaluation.base_by_line)


@given(st.times(), st.times(), st.times())
def test_time_windows_match_exactly_their_span(start: time, end: time, at: time) -> None:
    if start == end:
        return
    rule = CampaignMultiplierRule(code="w", name="w", start_time=start, end_time=end, multiplier=Decimal(2))
    base = BaseRateRule(code="base", name="base")
    order = OrderFacts(Decimal(10), "CNY", date(2026, 3, 5), at, None, None, (LineFacts(None, None, 1, Decimal(10)),))
    inside = start <= at < end if start < end else not (end <= at < start)
    assert evaluate_order([base, rule], order, MemberFacts()).points == (20 if inside else 10)
