"""An order as a plan: the rows and the answer from the program, the account and the order alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from guanxi.kit import clock
from guanxi.kit.errors import ValidationFailed
from guanxi.loyalty.currency.errors import NoExchangeRate, UnknownCurrency
from guanxi.loyalty.orders import plan as order_plan
from guanxi.loyalty.orders.plan import AccountSnapshot, CustomerFacts, OrderKeys
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.schemas import OrderIn
from guanxi.loyalty.rules import engine as rules

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
KEYS = OrderKeys(order_id="01ORDER", request_hash="h", actor_id="pos-1", now=NOW)
CUSTOMER = CustomerFacts(id="01CUSTOMER", birthday=None)


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def _config(**changes: Any) -> ProgramConfig:
    return dataclasses.replace(program._unsaved_default(), id="01PROGRAM", **changes)


def _account(**changes: Any) -> AccountSnapshot:
    base = AccountSnapshot(
        id="01ACCOUNT",
        customer_id=CUSTOMER.id,
        tier_code="basic",
        tier_since=NOW - timedelta(days=90),
        downgrade_to=None,
        grace_needed=None,
        points_balance=300,
        pending_points=0,
        lifetime_earned=500,
        growth_value=400,
        lifetime_growth=900,
        checkin_streak=0,
        last_order_at=NOW - timedelta(days=3),
        downgrade_due_at=None,
    )
    return dataclasses.replace(base, **changes)


def _order(amount: str = "120.50", **fields: Any) -> OrderIn:
    return OrderIn.model_validate(
        {
            "external_id": "POS-1",
            "source": "pos",
            "customer_id": CUSTOMER.id,
            "paid_amount": amount,
            "occurred_at": (NOW - timedelta(hours=1)).isoformat(),
            **fields,
        }
    )


def _plan(config: ProgramConfig, account: AccountSnapshot, data: OrderIn) -> order_plan.OrderPlan | None:
    return order_plan.plan_order(config, account, CUSTOMER, data, order_plan.check_order(config, data), KEYS)


def test_a_steady_state_order_plans_its_rows_and_answer() -> None:
    plan = _plan(_config(), _account(), _order("120.50"))
    assert plan is not None
    assert plan.answer.points_earned == 120
    assert plan.answer.points_balance == 420
    assert plan.answer.growth_earned == 120
    assert (plan.answer.tier, plan.answer.tier_change, plan.answer.pending) == ("basic", None, False)
    assert plan.order["answer"] == plan.answer.model_dump(mode="json")
    assert (plan.order["points_earned"], plan.order["growth_earned"], plan.order["tier_code"]) == (120, 120, "basic")
    assert plan.credit is not None
    entry, lot = plan.credit
    assert (entry["kind"], entry["points"], entry["balance_after"], entry["pending_after"]) == ("earn", 120, 420, 0)
    assert [a["rule"] for a in entry["detail"]["awards"]] == ["base_rate"]
    assert (lot["issued"], lot["remaining"], lot["status"], lot["available_at"]) == (120, 120, "available", NOW)
    assert lot["expires_at"] is not None and lot["expires_at"] > NOW
    assert plan.growth == {
        "account_id": "01ACCOUNT",
        "kind": "spend",
        "value": 120,
        "value_after": 520,
        "order_id": "01ORDER",
        "reference": None,
        "created_at": NOW,
    }
    assert plan.account_changed
    assert plan.account == {
        "id": "01ACCOUNT",
        "points_balance": 420,
        "lifetime_earned": 620,
        "growth_value": 520,
        "lifetime_growth": 1020,
        "last_order_at": NOW - timedelta(hours=1),
        "tier_code": "basic",
        "tier_since": NOW - timedelta(days=90),
        "downgrade_due_at": None,
        "downgrade_to": None,
        "grace_needed": None,
        "updated_at": NOW,
    }
    assert plan.event["points"] == 120 and plan.event["paid_amount"] == "120.50"


def test_lines_share_the_paid_amount() -> None:
    lines = [
        {"sku": "A", "category": "beauty", "quantity": 1, "unit_price": "100.00"},
        {"sku": "B", "quantity": 2, "unit_price": "50.00"},
    ]
    plan = _plan(_config(), _account(), _order("150.00", lines=lines))
    assert plan is not None
    assert [(line["line_no"], line["paid_share"]) for line in plan.lines] == [
        (1, Decimal("75.00")),
        (2, Decimal("75.00")),
    ]


def test_an_order_below_one_point_writes_no_entry_lot_or_growth() -> None:
    plan = _plan(_config(), _account(last_order_at=NOW), _order("0.50"))
    assert plan is not None
    assert (plan.credit, plan.growth, plan.answer.points_earned, plan.answer.growth_earned) == (None, None, 0, 0)
    assert not plan.account_changed  # an older order leaves last_order_at as it was


def test_the_tier_prices_the_order() -> None:
    plan = _plan(_config(), _account(tier_code="silver", growth_value=2500), _order("100.00"))
    assert plan is not None
    assert plan.answer.points_earned == 120  # silver: 1.2 x
    assert plan.answer.tier == "silver"


def test_an_order_reaching_a_tier_upgrades_after_pricing() -> None:
    plan = _plan(_config(), _account(growth_value=1950), _order("100.00"))
    assert plan is not None
    assert plan.answer.points_earned == 100  # priced at the tier held before the order
    assert plan.answer.tier == "silver"
    assert plan.answer.tier_change is not None
    assert (plan.answer.tier_change["from"], plan.answer.tier_change["to"]) == ("basic", "silver")
    assert plan.order["tier_code"] == "basic"
    assert plan.upgrade is not None
    change, event = plan.upgrade
    assert (change["from_tier"], change["to_tier"], change["kind"], change["value"]) == (
        "basic",
        "silver",
        "upgrade",
        Decimal(2050),
    )
    assert (event["from_rank"], event["to_rank"]) == (0, 1)
    assert (plan.account["tier_code"], plan.account["tier_since"]) == ("silver", NOW)


@pytest.mark.parametrize(
    "account",
    [
        _account(pending_points=50),
        _account(points_balance=-20),
        _account(downgrade_due_at=NOW + timedelta(days=10)),
    ],
    ids=["pending", "debt", "downgrade_under_review"],
)
def test_accounts_the_plan_does_not_cover(account: AccountSnapshot) -> None:
    assert _plan(_config(), account, _order("100.00")) is None


def test_program_terms_the_plan_does_not_cover() -> None:
    assert order_plan.terms_covered(_config(), rules_need_usage=False)
    assert not order_plan.terms_covered(_config(), rules_need_usage=True)
    assert not order_plan.terms_covered(_config(pending_days=7), rules_need_usage=False)
    assert not order_plan.terms_covered(_config(tier_basis="qualifying_spend"), rules_need_usage=False)
    assert not order_plan.terms_covered(dataclasses.replace(_config(), id=None), rules_need_usage=False)


def test_a_birthday_month_doubles_the_base() -> None:
    birthday_rule = rules.parse_rule(
        {"code": "bday", "kind": "birthday_bonus", "name": "生日月", "priority": 330, "multiplier": "2"}
    )
    config = _config(rules=(*_config().rules, birthday_rule))
    data = _order("100.00")
    shares = order_plan.check_order(config, data)
    born = CustomerFacts(id=CUSTOMER.id, birthday=date(1990, 11, 3))
    plan = order_plan.plan_order(config, _account(), born, data, shares, KEYS)
    assert plan is not None
    assert plan.answer.points_earned == 200


def test_check_order_refuses_what_the_schema_cannot() -> None:
    with pytest.raises(NoExchangeRate) as caught:
        order_plan.check_order(_config(), _order(currency="USD"))  # no rate given: none covers its day
    assert [(e.field, e.code) for e in caught.value.errors] == [("currency", "no_exchange_rate")]
    assert caught.value.message == "currency: no exchange rate for USD covers 2026-11-20"
    with pytest.raises(UnknownCurrency) as unknown:
        order_plan.check_order(_config(), _order(currency="ABC"))
    assert [(e.field, e.code) for e in unknown.value.errors] == [("currency", "unknown_currency")]
    future = _order(occurred_at=(NOW + timedelta(hours=1)).isoformat())
    with pytest.raises(ValidationFailed) as caught:
        order_plan.check_order(_config(), future)
    assert [e.code for e in caught.value.errors] == ["future_date"]


def test_enrolment_rows_match_a_new_account() -> None:
    config = _config()
    account, change = order_plan.enrolment(config, CUSTOMER.id, "01NEW", "pos-1", NOW)
    assert account["tier_code"] == "basic" and account["enrolled_at"] == NOW
    assert account["next_review_on"] == date(2027, 1, 1)
    assert change == {
        "account_id": "01NEW",
        "from_tier": None,
        "to_tier": "basic",
        "kind": "enrol",
        "reason": "enrolled at 普通会员",
        "detail": {"code": "enrolled", "params": {"tier": "basic"}},
        "actor_id": "pos-1",
        "created_at": NOW,
    }
    fresh = order_plan.new_account(config, "01NEW", CUSTOMER.id, NOW)
    plan = _plan(config, fresh, _order("88.00"))
    assert plan is not None
    assert (plan.answer.points_balance, plan.account["growth_value"], plan.account["lifetime_earned"]) == (88, 88, 88)
