"""The what-if simulation over a handful of real orders: the baseline replays what the ledger
recorded, doubling the base rate doubles the points, raising the gold threshold moves members down,
bad scenarios name the field, and nothing is ever written."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import PermissionDenied, ValidationFailed
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.loyalty.insights import simulation
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.program.schemas import RefundIn
from guanxi.loyalty.rules import engine as rules
from tests.api.helpers import table_counts
from tests.factories import create_customer, post_order

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
BASE = {"code": "base_rate", "name": "消费积分", "kind": "base_rate", "priority": 100}
TIER = {"code": "tier_multiplier", "name": "会员等级加倍", "kind": "tier_multiplier", "priority": 200}
LADDER = [
    {"code": "basic", "name": "普通会员", "threshold": "0"},
    {"code": "silver", "name": "银卡会员", "threshold": "2000"},
    {"code": "gold", "name": "金卡会员", "threshold": "8000"},
    {"code": "diamond", "name": "钻石会员", "threshold": "30000"},
]


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00+08:00")


@pytest.fixture
def history(db: Database) -> None:
    """A: 5000 then 4000 (silver, then gold); B: 1500 then 1000 (silver); C: one order of two
    categories; D: refunded in full; E: 1000 with 400 refunded."""
    with clock.frozen(NOW):
        with db.unit_of_work() as session:
            a, b, c, d, e = (create_customer(session, name=f"会员{n}") for n in "甲乙丙丁戊")
            post_order(session, customer_id=a.id, amount="5000.00", external_id="A1", occurred_at=_at("2026-02-10"))
            post_order(session, customer_id=a.id, amount="4000.00", external_id="A2", occurred_at=_at("2026-05-10"))
            post_order(session, customer_id=b.id, amount="1500.00", external_id="B1", occurred_at=_at("2026-03-01"))
            post_order(session, customer_id=b.id, amount="1000.00", external_id="B2", occurred_at=_at("2026-08-01"))
            post_order(
                session,
                customer_id=c.id,
                amount="300.00",
                external_id="C1",
                occurred_at=_at("2026-09-01"),
                lines=[
                    {"sku": "T-1", "category": "apparel", "quantity": 1, "unit_price": "200.00"},
                    {"sku": "L-1", "category": "beauty", "quantity": 2, "unit_price": "50.00"},
                ],
            )
            d1 = post_order(session, customer_id=d.id, amount="800.00", external_id="D1", occurred_at=_at("2026-04-01"))
            e1 = post_order(
                session, customer_id=e.id, amount="1000.00", external_id="E1", occurred_at=_at("2026-10-01")
            )
        with db.unit_of_work() as session:
            orders.refund_order(session, SYSTEM, d1.id, RefundIn(amount=Decimal("800.00")), "r-d1")
            orders.refund_order(session, SYSTEM, e1.id, RefundIn(amount=Decimal("400.00")), "r-e1")


def _simulate(db: Database, scenario: dict[str, Any], actor: Principal = SYSTEM) -> simulation.SimulationReport:
    with clock.frozen(NOW), db.unit_of_work(read_only=True) as session:
        report = simulation.simulate(session, actor, simulation.ScenarioIn.model_validate(scenario))
        assert not session.new and not session.dirty and not session.deleted
        return report


def _tiers(figures: simulation.RunFigures) -> dict[str, int]:
    return {t.code: t.members for t in figures.tiers}


def test_the_baseline_replays_what_the_ledger_recorded(db: Database, history: None) -> None:
    report = _simulate(db, {})
    assert (report.orders_replayed, report.orders_fully_refunded, report.members) == (7, 1, 5)
    # A: 5000 at basic, 4000 at silver (x1.2: +800); B 1500 + 1000; C 300; E keeps 600 of 1000.
    assert report.baseline.points == report.recorded_points == 13200
    assert report.baseline.points_by_rule == {"base_rate": 12400, "tier_multiplier": 800}
    assert _tiers(report.baseline) == {"basic": 3, "silver": 1, "gold": 1, "diamond": 0}
    assert report.baseline.upgrades == 3  # A to silver and to gold, B to silver
    # No scenario: the same program twice.
    assert report.scenario == report.baseline
    assert (report.points_difference, report.points_change_pct, report.cost_difference) == (
        0,
        Decimal("0.00"),
        Decimal("0.00"),
    )
    # Too little history for breakage: none assumed, cost is the full value.
    assert report.breakage.source == "default"
    assert report.baseline.value == report.baseline.cost == Decimal("132.00")
    assert report.top_category_changes == []
    assert report.window_end == NOW
    assert report.window_start == datetime(2025, 11, 20, 2, 0, tzinfo=UTC)


def test_doubling_the_base_rate_doubles_the_points(db: Database, history: None) -> None:
    report = _simulate(db, {"rules": [{**BASE, "points": "2"}, TIER]})
    assert report.scenario.points == 2 * report.baseline.points == 26400
    assert report.scenario.points_by_rule == {"base_rate": 24800, "tier_multiplier": 1600}
    assert (report.points_difference, report.points_change_pct) == (13200, Decimal("100.00"))
    assert (report.baseline.cost, report.scenario.cost, report.cost_difference) == (
        Decimal("132.00"),
        Decimal("264.00"),
        Decimal("132.00"),
    )
    # Growth comes from spend, not points: the tiers do not move.
    assert _tiers(report.scenario) == _tiers(report.baseline)


def test_raising_the_gold_threshold_moves_members_down(db: Database, history: None) -> None:
    ladder = [*LADDER[:2], {**LADDER[2], "threshold": "10000"}, LADDER[3]]
    report = _simulate(db, {"tiers": ladder})
    assert _tiers(report.baseline) == {"basic": 3, "silver": 1, "gold": 1, "diamond": 0}
    assert _tiers(report.scenario) == {"basic": 3, "silver": 2, "gold": 0, "diamond": 0}
    # A reaches gold only after their last order in both: the points do not change.
    assert report.points_difference == 0
    assert report.scenario.upgrades == 2


def test_a_lower_silver_threshold_and_growth_rate_change_points_through_tiers(db: Database, history: None) -> None:
    ladder = [LADDER[0], {**LADDER[1], "threshold": "1000", "points_multiplier": "1.5"}, *LADDER[2:]]
    report = _simulate(db, {"tiers": ladder, "growth_per_amount": "2"})
    # Growth x2: A gold after 5000 (10000 growth), B silver after 1500 (3000), E silver after its
    # order (1200). A: 5000 + 4000 x1.5 (gold's multiplier) = 11000; B: 1500 + 1000 x1.5 = 3000;
    # C 300; E 600 (earned before the upgrade).
    assert report.scenario.points == 14900
    assert _tiers(report.scenario) == {"basic": 2, "silver": 2, "gold": 1, "diamond": 0}
    assert report.points_difference == 1700


def test_category_rules_show_per_category(db: Database, history: None) -> None:
    beauty = {
        "code": "beauty-x3",
        "name": "美妆三倍",
        "kind": "category_multiplier",
        "categories": ["beauty"],
        "multiplier": "3",
        "priority": 300,
    }
    report = _simulate(db, {"rules": [BASE, TIER, beauty]})
    assert report.scenario.points_by_rule["beauty-x3"] == 200
    assert [c.model_dump() for c in report.top_category_changes] == [
        {"category": "beauty", "baseline_points": 100, "scenario_points": 300, "difference": 200}
    ]


def test_a_birthday_gift_counts_once_per_birthday_month(db: Database) -> None:
    with clock.frozen(NOW), db.unit_of_work() as session:
        born = create_customer(session, name="寿星", birthday=date(1990, 7, 15))
        for i, day in enumerate(("2026-07-01", "2026-07-20", "2026-08-01")):
            post_order(session, customer_id=born.id, amount="100.00", external_id=f"BD{i}", occurred_at=_at(day))
    gift = {"code": "birthday", "name": "生日礼", "kind": "birthday_bonus", "bonus_points": 500}
    report = _simulate(db, {"rules": [BASE, gift]})
    assert report.scenario.points_by_rule == {"base_rate": 300, "birthday": 500}


def test_the_window_is_the_last_n_months(db: Database, history: None) -> None:
    report = _simulate(db, {"months": 3})
    # From 2026-08-20: C (300) and E (600 kept).
    assert (report.orders_replayed, report.baseline.points, report.members) == (2, 900, 2)


def test_no_rules_earn_nothing(db: Database, history: None) -> None:
    report = _simulate(db, {"rules": []})
    assert (report.scenario.points, report.points_change_pct) == (0, Decimal("-100.00"))


@pytest.mark.parametrize(
    ("scenario", "fields"),
    [
        ({"rules": [BASE, {**TIER, "kind": "no_such_kind"}]}, ["rules[1].kind"]),
        ({"rules": [{**BASE, "points": "-1"}]}, ["rules[0].points"]),
        ({"rules": [BASE, {**BASE}]}, ["rules[1].code"]),
        ({"rules": [{**BASE, "surprise": 1}, {**TIER, "code": "Bad Code"}]}, ["rules[0].surprise", "rules[1].code"]),
        ({"tiers": [LADDER[0], {**LADDER[1], "threshold": "0"}]}, ["tiers[1].threshold"]),
    ],
)
def test_bad_scenarios_name_the_field(db: Database, history: None, scenario: dict[str, Any], fields: list[str]) -> None:
    before = table_counts(db)
    with pytest.raises(ValidationFailed) as caught:
        _simulate(db, scenario)
    assert sorted(e.field for e in caught.value.errors) == fields
    assert table_counts(db) == before


def test_nothing_is_written(db: Database, history: None) -> None:
    before = table_counts(db)
    _simulate(db, {"rules": [{**BASE, "points": "3"}, TIER], "tiers": LADDER[:2], "growth_per_amount": "5"})
    _simulate(db, {"months": 36})
    assert table_counts(db) == before


@pytest.mark.parametrize("role", ["sales", "service"])
def test_roles_without_liability_read_are_refused(db: Database, role: str) -> None:
    with pytest.raises(PermissionDenied):
        _simulate(db, {}, actor=Principal(id="u1", name="u1", role=role))


def test_rule_errors_keep_the_engine_s_paths() -> None:
    with pytest.raises(ValidationFailed) as caught:
        simulation.parse_rules([{"code": "x", "name": "x", "kind": "campaign_multiplier", "multiplier": "2"}])
    assert [e.field for e in caught.value.errors] == ["rules[0].weekdays"]
    assert simulation.parse_rules([{**BASE, "active": False}]) == ()
    assert isinstance(simulation.parse_rules([TIER, BASE])[0], rules.BaseRateRule)
