"""Earning rules: exact outcomes of evaluating orders and actions. Parsing is in test_rule_defs.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from guanxi.kit.calendar import HolidayCalendar
from guanxi.loyalty.rules.engine import (
    ActionFacts,
    Evaluation,
    LineFacts,
    MemberFacts,
    OrderFacts,
    Rule,
    RuleError,
    default_rules,
    evaluate_action,
    evaluate_order,
    parse_rule,
)

THURSDAY = date(2026, 3, 5)
FRIDAY = date(2026, 3, 6)
NOBODY = MemberFacts()
GOLD = MemberFacts(tier_code="gold", tier_multiplier=Decimal("1.5"))


def line(amount: str, category: str | None = None, sku: str | None = None, quantity: int = 1) -> LineFacts:
    return LineFacts(sku=sku, category=category, quantity=quantity, amount=Decimal(amount))


def order(
    *lines: LineFacts,
    day: date = THURSDAY,
    at: time = time(15, 0),
    channel: str | None = "pos",
    store: str | None = "sh-001",
    currency: str = "CNY",
) -> OrderFacts:
    paid = sum((x.amount for x in lines), Decimal(0))
    return OrderFacts(paid, currency, day, at, channel, store, tuple(lines))


def rule(kind: str, code: str, **fields: Any) -> Rule:
    return parse_rule({"kind": kind, "code": code, "name": fields.pop("name", code.replace("_", " ")), **fields})


BASE = rule("base_rate", "base")
TIER = rule("tier_multiplier", "tier")
APPAREL_X2 = rule("category_multiplier", "apparel_x2", categories=["apparel"], multiplier="2")
FRIDAY_X3 = rule("campaign_multiplier", "friday_x3", weekdays=[5], multiplier="3")


def points_by_rule(evaluation: Evaluation) -> dict[str, int]:
    return {a.rule_code: a.points for a in evaluation.awards}


def run(rules: Sequence[Rule], o: OrderFacts, member: MemberFacts = NOBODY, **kw: Any) -> Evaluation:
    evaluation = evaluate_order(rules, o, member, **kw)
    assert evaluation.points == sum(a.points for a in evaluation.awards)
    return evaluation


# --- base points ---------------------------------------------------------------------------------


def test_default_rules_give_one_point_per_yuan_times_the_tier() -> None:
    evaluation = run(default_rules(), order(line("1000.00")), GOLD)
    assert evaluation.points == 1500
    assert points_by_rule(evaluation) == {"base_rate": 1000, "tier_multiplier": 500}
    base, tier = evaluation.awards
    assert base.kind == "base_rate"
    assert base.description == "消费积分: 1000.00 CNY at 1 point per 1 CNY = 1000 points"
    assert base.params == {
        "rule": "消费积分",
        "rule_en": "Purchase points",
        "amount": "1000.00",
        "currency": "CNY",
        "rate_points": "1",
        "per_amount": "1",
        "points": "1000",
    }
    assert tier.description == "会员等级加倍: tier gold ×1.5 on 1000 base points = 500 bonus points"
    assert evaluation.notes == ()


def test_a_tier_multiplier_of_1_awards_nothing_and_is_not_listed() -> None:
    evaluation = run(default_rules(), order(line("1000.00")), NOBODY)
    assert [a.rule_code for a in evaluation.awards] == ["base_rate"]


def test_apparel_x2_line_of_500_in_a_1000_order() -> None:
    evaluation = run([BASE, TIER, APPAREL_X2], order(line("500.00", "apparel"), line("500.00", "food")))
    assert evaluation.points == 1500
    assert points_by_rule(evaluation) == {"base": 1000, "apparel_x2": 500}
    bonus = evaluation.awards[1]
    assert bonus.description == "apparel x2: 1 matching line ×2 on 500 base points = 500 bonus points"
    assert bonus.params["lines"] == "1"
    assert evaluation.base_by_line == (500, 500)


def test_category_multiplier_matches_skus_too() -> None:
    sku_rule = rule("category_multiplier", "hero_sku", skus=["SKU-1"], multiplier="1.5")
    evaluation = run([BASE, sku_rule], order(line("200.00", "food", "SKU-1"), line("100.00", "food", "SKU-2")))
    assert points_by_rule(evaluation) == {"base": 300, "hero_sku": 100}


@pytest.mark.parametrize(
    ("rounding", "amount", "expected"),
    [
        ("floor", "99.99", 99),
        ("half_up", "99.99", 100),
        ("half_up", "99.49", 99),
        ("half_up", "99.50", 100),
        ("ceil", "99.01", 100),
        ("ceil", "99.00", 99),
    ],
)
def test_rounding_modes(rounding: str, amount: str, expected: int) -> None:
    base = rule("base_rate", "base", rounding=rounding)
    assert run([base], order(line(amount))).points == expected


def test_points_per_amount() -> None:
    one_per_ten = rule("base_rate", "base", points="1", per_amount="10")
    evaluation = run([one_per_ten], order(line("1009.00")))
    assert evaluation.points == 100
    assert evaluation.awards[0].description == "base: 1009.00 CNY at 1 point per 10 CNY = 100 points"
    two_per_one = rule("base_rate", "base", points="2")
    assert run([two_per_one], order(line("10.50"))).points == 21


def test_bonuses_round_like_the_base() -> None:
    floor = run([BASE, TIER], order(line("1001.00")), GOLD)
    assert points_by_rule(floor) == {"base": 1001, "tier": 500}
    half_up = run([rule("base_rate", "base", rounding="half_up"), TIER], order(line("1001.00")), GOLD)
    assert points_by_rule(half_up) == {"base": 1001, "tier": 501}


def test_base_is_rounded_once_and_split_by_largest_remainder() -> None:
    evaluation = run([BASE], order(line("33.50"), line("33.50"), line("33.50")))
    assert evaluation.points == 100  # not 3 × floor(33.5) = 99
    assert evaluation.base_by_line == (34, 33, 33)
    assert sum(evaluation.base_by_line) == 100


def test_bonuses_are_not_compounded() -> None:
    evaluation = run([BASE, TIER, APPAREL_X2, FRIDAY_X3], order(line("100.00", "apparel"), day=FRIDAY), GOLD)
    assert points_by_rule(evaluation) == {"base": 100, "apparel_x2": 100, "friday_x3": 200, "tier": 50}
    assert evaluation.points == 450


def test_tiny_order_explains_it_earns_nothing() -> None:
    evaluation = run([BASE], order(line("0.50")))
    assert evaluation.points == 0 and evaluation.awards == ()
    assert evaluation.notes == ("rule base (base): 0.50 CNY earns less than 1 point at 1 point per 1 CNY",)


def test_no_base_rule_is_explained() -> None:
    evaluation = run([TIER, FRIDAY_X3], order(line("100.00"), day=FRIDAY), GOLD)
    assert evaluation.points == 0
    assert evaluation.notes == ("no base rate rule applies to this order: no base points and no multiplier bonus",)
    assert evaluation.base_by_line == (0,)


def test_an_order_in_another_currency_gets_no_base_from_a_cny_rule() -> None:
    evaluation = run([BASE], order(line("100.00"), currency="HKD"))
    assert evaluation.points == 0
    assert "rule base (base) counts CNY, the order is in HKD: not used" in evaluation.notes
    hkd = rule("base_rate", "hkd", currency="HKD")
    assert run([BASE, hkd], order(line("100.00"), currency="HKD")).points == 100


def test_the_first_base_rule_wins_and_ties_go_by_code() -> None:
    double = rule("base_rate", "a_double", points="2")
    evaluation = run([BASE, double], order(line("100.00")))
    assert points_by_rule(evaluation) == {"a_double": 200}
    assert evaluation.notes == ("rule base (base) not used: a_double already gave the base points",)
    # A lower priority number runs first whatever the code.
    first = rule("base_rate", "z_single", priority=10)
    assert points_by_rule(run([double, first], order(line("100.00")))) == {"z_single": 100}


def test_priority_orders_bonuses_and_their_listing() -> None:
    late = rule("campaign_multiplier", "a_late", weekdays=[5], multiplier="2", priority=300)
    early = rule("campaign_multiplier", "b_early", weekdays=[5], multiplier="2", priority=50)
    tie = rule("campaign_multiplier", "a_tie", weekdays=[5], multiplier="2", priority=50)
    evaluation = run([late, BASE, early, tie], order(line("10.00"), day=FRIDAY))
    assert [a.rule_code for a in evaluation.awards] == ["base", "a_tie", "b_early", "a_late"]


# --- gates ---------------------------------------------------------------------------------------


def test_minimum_order_stops_everything_and_says_why() -> None:
    minimum = rule("minimum_order", "min50", min_amount="50")
    evaluation = run([BASE, TIER, minimum], order(line("49.99")), GOLD)
    assert (evaluation.points, evaluation.awards) == (0, ())
    assert evaluation.notes == (
        "the order paid 49.99 CNY, below the 50 CNY minimum of rule min50 (min50): it earns no points",
    )
    assert evaluation.base_by_line == (0,)
    assert run([BASE, minimum], order(line("50.00"))).points == 50


def test_excluded_lines_earn_nothing_from_any_rule() -> None:
    tobacco = rule("exclusion", "no_tobacco", categories=["tobacco"])
    any_x2 = rule("category_multiplier", "all_x2", categories=["tobacco", "food"], multiplier="2")
    o = order(line("700.00", "food"), line("300.00", "tobacco"), day=FRIDAY)
    evaluation = run([BASE, tobacco, any_x2, FRIDAY_X3], o)
    assert points_by_rule(evaluation) == {"base": 700, "all_x2": 700, "friday_x3": 1400}
    assert evaluation.awards[0].params["amount"] == "700.00"
    assert evaluation.notes == (
        "1 line paying 300.00 CNY excluded by rule no_tobacco (no tobacco): no points from any rule",
    )
    assert evaluation.base_by_line == (700, 0)


def test_excluding_every_line() -> None:
    by_sku = rule("exclusion", "gift_cards", skus=["GC-100"])
    evaluation = run([BASE, by_sku], order(line("100.00", sku="GC-100")))
    assert evaluation.points == 0
    assert evaluation.notes == (
        "1 line paying 100.00 CNY excluded by rule gift_cards (gift cards): no points from any rule",
    )


# --- campaigns and birthdays -----------------------------------------------------------------------


def test_friday_x3() -> None:
    friday = run([BASE, FRIDAY_X3], order(line("200.00"), day=FRIDAY))
    assert points_by_rule(friday) == {"base": 200, "friday_x3": 400}
    assert friday.awards[1].description == "friday x3: Friday ×3 on 200 base points = 400 bonus points"
    assert friday.awards[1].params["condition"] == "Friday"
    assert run([BASE, FRIDAY_X3], order(line("200.00"), day=THURSDAY)).points == 200


def test_national_day_holiday_campaign() -> None:
    holidays = rule("campaign_multiplier", "holiday_x2", holidays=True, multiplier="2")
    national_day = run([BASE, holidays], order(line("100.00"), day=date(2026, 10, 1)))
    assert points_by_rule(national_day) == {"base": 100, "holiday_x2": 100}
    assert national_day.awards[1].params["condition"] == "public holiday 国庆节"
    # A Saturday made a workday (调休) is no holiday, and an ordinary weekend is none either.
    assert run([BASE, holidays], order(line("100.00"), day=date(2026, 10, 10))).points == 100
    assert run([BASE, holidays], order(line("100.00"), day=date(2026, 3, 7))).points == 100


def test_holiday_campaign_follows_the_calendar_given() -> None:
    holidays = rule("campaign_multiplier", "holiday_x2", holidays=True, multiplier="2")
    store_day = HolidayCalendar(extra_holidays={THURSDAY: "店庆"})
    evaluation = run([BASE, holidays], order(line("100.00")), calendar=store_day)
    assert evaluation.points == 200
    assert evaluation.awards[1].params["condition"] == "public holiday 店庆"


def test_campaign_on_dates_within_a_time_window() -> None:
    double_11 = rule(
        "campaign_multiplier",
        "double_11",
        dates=["2026-11-11"],
        start_time="20:00",
        end_time="23:00",
        multiplier="2",
    )
    assert run([BASE, double_11], order(line("100.00"), day=date(2026, 11, 11), at=time(20, 0))).points == 200
    assert run([BASE, double_11], order(line("100.00"), day=date(2026, 11, 11), at=time(23, 0))).points == 100
    assert run([BASE, double_11], order(line("100.00"), day=date(2026, 11, 12), at=time(21, 0))).points == 100
    evaluation = run([BASE, double_11], order(line("100.00"), day=date(2026, 11, 11), at=time(22, 59)))
    assert evaluation.awards[1].params["condition"] == "2026-11-11, 20:00-23:00"


def test_a_time_window_past_midnight_wraps() -> None:
    night = rule("campaign_multiplier", "night_owl", start_time="22:00", end_time="02:00", multiplier="2")
    assert run([BASE, night], order(line("10.00"), at=time(23, 30))).points == 20
    assert run([BASE, night], order(line("10.00"), at=time(1, 59))).points == 20
    assert run([BASE, night], order(line("10.00"), at=time(2, 0))).points == 10
    assert run([BASE, night], order(line("10.00"), at=time(12, 0))).points == 10


def test_campaign_within_its_validity_period_only() -> None:
    launch = rule("campaign_multiplier", "launch", multiplier="2", valid_from="2026-03-01", valid_to="2026-03-05")
    assert run([BASE, launch], order(line("10.00"), day=THURSDAY)).points == 20
    after = run([BASE, launch], order(line("10.00"), day=FRIDAY))
    assert after.points == 10
    assert after.notes == ("rule launch (launch) is outside its validity period (2026-03-01 to 2026-03-05)",)
    assert run([BASE, launch], order(line("10.00"), day=date(2026, 2, 28))).points == 10


def test_an_expired_rule_that_would_not_have_applied_is_not_mentioned() -> None:
    old_friday = rule("campaign_multiplier", "old_friday", weekdays=[5], multiplier="2", valid_to="2025-12-31")
    assert run([BASE, old_friday], order(line("10.00"), day=THURSDAY)).notes == ()


def test_birthday_month_bonus() -> None:
    birthday = rule("birthday_bonus", "birthday", multiplier="2", bonus_points=100)
    member = MemberFacts(birthday=date(1990, 3, 21))
    evaluation = run([BASE, birthday], order(line("300.00")), member)
    assert points_by_rule(evaluation) == {"base": 300, "birthday": 400}
    assert evaluation.awards[1].description == (
        "birthday: birthday month ×2 on 300 base points = 300 bonus points plus 100 birthday points"
    )
    assert evaluation.awards[1].params["birthday_points"] == "100"
    other_month = MemberFacts(birthday=date(1990, 4, 1))
    assert run([BASE, birthday], order(line("300.00")), other_month).points == 300
    assert run([BASE, birthday], order(line("300.00")), NOBODY).points == 300


def test_birthday_points_once_per_birthday_month() -> None:
    birthday = rule("birthday_bonus", "birthday", multiplier="2", bonus_points=100)
    member = MemberFacts(birthday=date(1990, 3, 21), birthday_bonus_taken=frozenset({"birthday"}))
    evaluation = run([BASE, birthday], order(line("300.00")), member)
    assert points_by_rule(evaluation) == {"base": 300, "birthday": 300}
    assert evaluation.notes == ("rule birthday (birthday): the 100 birthday points were already given this month",)
    every_order = rule("birthday_bonus", "birthday", bonus_points=100, bonus_once=False)
    assert run([BASE, every_order], order(line("300.00")), member).points == 400


def test_february_29_birthdays_fall_in_february() -> None:
    gift = rule("birthday_bonus", "birthday", bonus_points=88)
    member = MemberFacts(birthday=date(2000, 2, 29))
    assert run([BASE, gift], order(line("1.00"), day=date(2026, 2, 28)), member).points == 89


# --- stop_further, channels, stores, activity ------------------------------------------------------


def test_stop_further_stops_the_rules_after_it() -> None:
    exclusive = rule("campaign_multiplier", "friday_only", weekdays=[5], multiplier="3", stop_further=True, priority=10)
    evaluation = run([BASE, TIER, APPAREL_X2, exclusive], order(line("100.00", "apparel"), day=FRIDAY), GOLD)
    assert points_by_rule(evaluation) == {"base": 100, "friday_only": 200}
    assert evaluation.notes == (
        "rule friday_only (friday only) applied and stops the rules after it: apparel_x2, tier",
    )


def test_stop_further_only_when_the_rule_applied() -> None:
    exclusive = rule("campaign_multiplier", "friday_only", weekdays=[5], multiplier="3", stop_further=True, priority=10)
    evaluation = run([BASE, TIER, exclusive], order(line("100.00"), day=THURSDAY), GOLD)
    assert points_by_rule(evaluation) == {"base": 100, "tier": 50}


def test_stop_further_does_not_lift_the_daily_cap() -> None:
    exclusive = rule("campaign_multiplier", "friday_only", weekdays=[5], multiplier="3", stop_further=True)
    cap = rule("daily_cap", "cap", max_points=250)
    evaluation = run([BASE, exclusive, cap], order(line("100.00"), day=FRIDAY))
    assert evaluation.points == 250


def test_channels_and_stores_limit_where_a_rule_applies() -> None:
    wechat = rule("campaign_multiplier", "wechat_x2", channels=["wechat"], multiplier="2", valid_from="2026-01-01")
    flagship = rule("category_multiplier", "flagship", stores=["sh-001"], categories=["food"], multiplier="2")
    pos = run([BASE, wechat, flagship], order(line("10.00", "food"), channel="pos", store="sh-001"))
    assert points_by_rule(pos) == {"base": 10, "flagship": 10}
    assert pos.notes == ()  # not addressed to this order: nothing to explain
    app = run([BASE, wechat, flagship], order(line("10.00", "food"), channel="wechat", store=None))
    assert points_by_rule(app) == {"base": 10, "wechat_x2": 10}


def test_inactive_rules_do_nothing_silently() -> None:
    off = rule("campaign_multiplier", "off", weekdays=[4], multiplier="5", active=False)
    evaluation = run([BASE, off], order(line("10.00")))
    assert (evaluation.points, evaluation.notes) == (10, ())


def test_duplicate_codes_are_refused() -> None:
    with pytest.raises(RuleError) as caught:
        evaluate_order([BASE, rule("base_rate", "base")], order(line("1.00")), NOBODY)
    assert caught.value.errors == [("[1].code", "duplicates the code of [0]")]


# --- multipliers below 1 -------------------------------------------------------------------------


def test_a_multiplier_below_1_reduces_the_points() -> None:
    clearance = rule("category_multiplier", "clearance", categories=["sale"], multiplier="0.5")
    evaluation = run([BASE, clearance], order(line("101.00", "sale"), line("100.00", "food")))
    assert points_by_rule(evaluation) == {"base": 201, "clearance": -51}  # floor: never in the member's favour
    assert evaluation.awards[1].description == "clearance: 1 matching line ×0.5 on 101 base points = 51 fewer points"
    assert evaluation.points == 150


def test_reductions_never_take_an_order_below_0() -> None:
    reducers = [rule("category_multiplier", f"cut_{i}", categories=["sale"], multiplier="0.2") for i in range(3)]
    evaluation = run([BASE, *reducers], order(line("100.00", "sale")))
    assert points_by_rule(evaluation) == {"base": 100, "cut_0": -80, "cut_1": -20}
    assert evaluation.points == 0
    assert evaluation.notes == ("reductions limited to the points earned: 140 points of them dropped",)


# --- caps ----------------------------------------------------------------------------------------


def test_a_rules_daily_cap() -> None:
    capped = rule("campaign_multiplier", "friday_x3", weekdays=[5], multiplier="3", daily_cap=300)
    member = MemberFacts(earned_today_by_rule={"friday_x3": 100})
    evaluation = run([BASE, capped], order(line("200.00"), day=FRIDAY), member)
    assert points_by_rule(evaluation) == {"base": 200, "friday_x3": 200}
    bonus = evaluation.awards[1]
    assert bonus.trimmed == 200
    assert bonus.params["trimmed"] == "200"
    assert bonus.description.endswith("(200 over its daily cap of 300 points, 100 earned today, 200 given)")
    assert evaluation.notes == (
        "rule friday_x3 (friday x3): 200 points trimmed by its daily cap of 300 points, 100 earned today",
    )


def test_a_rules_campaign_cap_once_reached_awards_nothing() -> None:
    capped = rule("campaign_multiplier", "friday_x3", weekdays=[5], multiplier="3", campaign_cap=1000)
    member = MemberFacts(earned_by_rule={"friday_x3": 1000})
    evaluation = run([BASE, capped], order(line("200.00"), day=FRIDAY), member)
    assert points_by_rule(evaluation) == {"base": 200}
    assert evaluation.notes == (
        "rule friday_x3 (friday x3): 400 points trimmed by its cap of 1000 points, 1000 earned before",
    )


def test_the_daily_cap_trims_the_last_awards_first() -> None:
    cap = rule("daily_cap", "daily_1200", max_points=1200)
    member = MemberFacts(tier_code="gold", tier_multiplier=Decimal("1.5"), earned_today=500)
    evaluation = run([BASE, TIER, cap], order(line("1000.00")), member)
    assert evaluation.points == 700
    assert points_by_rule(evaluation) == {"base": 700}  # the tier bonus went first, then 300 of the base
    assert evaluation.awards[0].trimmed == 300
    assert evaluation.notes == (
        "rule daily_1200 (daily 1200): 800 points trimmed by the daily cap of 1200 points, 500 earned today",
    )


def test_the_tightest_daily_cap_wins() -> None:
    caps = [rule("daily_cap", "loose", max_points=1000), rule("daily_cap", "tight", max_points=50)]
    evaluation = run([BASE, *caps], order(line("100.00")))
    assert evaluation.points == 50
    assert evaluation.notes[0].startswith("rule tight (tight): 50 points trimmed")


def test_a_daily_cap_already_exhausted() -> None:
    cap = rule("daily_cap", "cap", max_points=100)
    evaluation = run([BASE, cap], order(line("100.00")), MemberFacts(earned_today=150))
    assert (evaluation.points, evaluation.awards) == (0, ())


# --- actions -------------------------------------------------------------------------------------

CHECKIN = rule("action_bonus", "checkin", action="checkin", points=5, streak_bonuses={"7": 20, "30": 100})


def test_checkin_points_and_streak_bonus() -> None:
    day = ActionFacts("checkin", THURSDAY)
    plain = evaluate_action([CHECKIN], day, MemberFacts(checkin_streak=3))
    assert (plain.points, [a.kind for a in plain.awards]) == (5, ["action_bonus"])
    assert plain.awards[0].description == "checkin: checkin = 5 points"
    week = evaluate_action([CHECKIN], day, MemberFacts(checkin_streak=7))
    assert week.points == 25
    assert [(a.kind, a.points) for a in week.awards] == [("action_bonus", 5), ("streak_bonus", 20)]
    assert week.awards[1].description == "checkin: 7-day check-in streak = 20 bonus points"
    assert evaluate_action([CHECKIN], day, MemberFacts(checkin_streak=8)).points == 5
    assert evaluate_action([CHECKIN], day, MemberFacts(checkin_streak=30)).points == 105


def test_actions_ignore_order_rules_and_order_rules_ignore_actions() -> None:
    share = rule("action_bonus", "share", action="share", points=10)
    assert evaluate_action([BASE, TIER, share], ActionFacts("share", THURSDAY), GOLD).points == 10
    assert run([BASE, share], order(line("10.00"))).points == 10


def test_an_action_without_a_rule_is_explained() -> None:
    evaluation = evaluate_action([CHECKIN], ActionFacts("review", THURSDAY), NOBODY)
    assert (evaluation.points, evaluation.notes) == (0, ("no rule awards points for the action review",))


def test_action_caps() -> None:
    share = rule("action_bonus", "share", action="share", points=10, daily_cap=30)
    member = MemberFacts(earned_today_by_rule={"share": 25})
    evaluation = evaluate_action([share], ActionFacts("share", THURSDAY), member)
    assert evaluation.points == 5
    cap = rule("daily_cap", "cap", max_points=100)
    capped = evaluate_action([CHECKIN, cap], ActionFacts("checkin", THURSDAY), MemberFacts(earned_today=98))
    assert capped.points == 2


def test_action_rules_by_channel_validity_and_stop_further() -> None:
    app_only = rule("action_bonus", "app_share", action="share", points=10, channels=["app"], stop_further=True)
    extra = rule("action_bonus", "share_more", action="share", points=3, priority=200)
    assert evaluate_action([app_only, extra], ActionFacts("share", THURSDAY, "app"), NOBODY).points == 10
    assert evaluate_action([app_only, extra], ActionFacts("share", THURSDAY, "web"), NOBODY).points == 3
    ended = rule("action_bonus", "review", action="review", points=50, valid_to="2026-01-31")
    evaluation = evaluate_action([ended], ActionFacts("review", THURSDAY), NOBODY)
    assert evaluation.points == 0
    assert evaluation.notes == ("rule review (review) is outside its validity period (the start to 2026-01-31)",)


# --- facts ---------------------------------------------------------------------------------------


def test_facts_refuse_what_would_give_wrong_points() -> None:
    with pytest.raises(TypeError):
        LineFacts(None, None, 1, 10.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="0 or more"):
        line("-1.00")
    with pytest.raises(ValueError, match=r"add up to 10\.00"):
        OrderFacts(Decimal("12.00"), "CNY", THURSDAY, time(10), None, None, (line("10.00"),))
    with pytest.raises(ValueError, match="at least one line"):
        OrderFacts(Decimal(0), "CNY", THURSDAY, time(10), None, None, ())
    with pytest.raises(TypeError, match="local time"):
        OrderFacts(Decimal(1), "CNY", THURSDAY, time(10, tzinfo=UTC), None, None, (line("1"),))
    with pytest.raises(TypeError, match="local date"):
        OrderFacts(Decimal(1), "CNY", datetime(2026, 3, 5, 10), time(10), None, None, (line("1"),))
    with pytest.raises(ValueError, match="greater than 0"):
        MemberFacts(tier_multiplier=Decimal(0))
    with pytest.raises(ValueError, match="slug"):
        ActionFacts("Check In", THURSDAY)
