"""An order paid in another currency as the plan counts it: converted at the rate of its local day,
with what was paid in that currency kept on the row and named in the answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from guanxi.kit import clock
from guanxi.kit.errors import ValidationFailed
from guanxi.loyalty.currency.coverage import RateUsed
from guanxi.loyalty.currency.errors import NoExchangeRate
from guanxi.loyalty.orders import foreign_currency
from guanxi.loyalty.orders import plan as order_plan
from guanxi.loyalty.orders.plan import AccountSnapshot, CustomerFacts, OrderKeys
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.schemas import OrderExchange, OrderIn

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
KEYS = OrderKeys(order_id="01ORDER", request_hash="h", actor_id="pos-1", now=NOW)
CUSTOMER = CustomerFacts(id="01CUSTOMER", birthday=None)
USD = RateUsed("USD", "CNY", Decimal("7.12340000"), date(2026, 11, 1), None)


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def _config() -> ProgramConfig:
    return dataclasses.replace(program._unsaved_default(), id="01PROGRAM")


def _account() -> AccountSnapshot:
    return order_plan.new_account(_config(), "01ACCOUNT", CUSTOMER.id, NOW - timedelta(days=90))


def _order(amount: str = "100.00", currency: str = "USD", **fields: Any) -> OrderIn:
    return OrderIn.model_validate(
        {
            "external_id": "POS-1",
            "source": "pos",
            "customer_id": CUSTOMER.id,
            "paid_amount": amount,
            "currency": currency,
            "occurred_at": (NOW - timedelta(hours=1)).isoformat(),
            **fields,
        }
    )


def test_the_rate_key_is_the_currency_and_the_local_day() -> None:
    # 17:30 UTC on the 19th is 01:30 on the 20th in Shanghai: the day the rules see.
    late = _order(occurred_at="2026-11-19T17:30:00+00:00")
    assert foreign_currency.rate_key("CNY", "Asia/Shanghai", late) == ("USD", date(2026, 11, 20))
    assert foreign_currency.rate_key("CNY", "UTC", late) == ("USD", date(2026, 11, 19))
    assert foreign_currency.rate_key("CNY", "Asia/Shanghai", _order(currency="usd")) == ("USD", date(2026, 11, 20))
    assert foreign_currency.rate_key("CNY", "Asia/Shanghai", _order(currency="CNY")) is None
    assert foreign_currency.rate_key("CNY", "Asia/Shanghai", _order(currency="ABC")) is None
    naive = _order(occurred_at="2026-11-20T09:00:00")
    assert foreign_currency.rate_key("CNY", "Asia/Shanghai", naive) is None


def test_an_order_in_dollars_is_planned_in_yuan() -> None:
    config = _config()
    lines = [
        {"sku": "A", "quantity": 1, "unit_price": "60.00"},
        {"sku": "B", "quantity": 2, "unit_price": "25.00"},
    ]
    data = _order("100.00", lines=lines)
    shares = order_plan.check_order(config, data, USD)
    # 712.34 yuan spread over the lines by their value as given (60 : 50)
    assert shares == [Decimal("388.55"), Decimal("323.79")]
    assert sum(shares) == Decimal("712.34")
    plan = order_plan.plan_order(config, _account(), CUSTOMER, data, shares, KEYS, USD)
    assert plan is not None
    assert plan.order["paid_amount"] == Decimal("712.34")
    assert plan.order["currency"] == "CNY"
    assert {k: plan.order[k] for k in ("original_amount", "original_currency", "exchange_rate", "rate_valid_from")} == {
        "original_amount": Decimal("100.00"),
        "original_currency": "USD",
        "exchange_rate": Decimal("7.12340000"),
        "rate_valid_from": date(2026, 11, 1),
    }
    assert [(line["unit_price"], line["paid_share"]) for line in plan.lines] == [
        (Decimal("427.40"), Decimal("388.55")),
        (Decimal("178.09"), Decimal("323.79")),
    ]
    assert (plan.answer.paid_amount, plan.answer.currency) == (Decimal("712.34"), "CNY")
    assert plan.answer.exchange == OrderExchange(
        currency="USD", amount=Decimal("100.00"), rate=Decimal("7.12340000"), valid_from=date(2026, 11, 1)
    )
    # points and growth count the yuan: the default base rate is 1 point per yuan
    assert (plan.answer.points_earned, plan.answer.growth_earned) == (712, 712)
    assert plan.event["paid_amount"] == "712.34"
    assert plan.order["answer"]["exchange"] == {
        "currency": "USD",
        "amount": "100.00",
        "rate": "7.12340000",
        "valid_from": "2026-11-01",
    }


def test_an_order_in_the_program_currency_has_no_exchange() -> None:
    config = _config()
    data = _order("100.00", currency="CNY")
    plan = order_plan.plan_order(config, _account(), CUSTOMER, data, order_plan.check_order(config, data), KEYS)
    assert plan is not None
    assert plan.answer.exchange is None
    assert plan.order["original_amount"] is None and plan.order["exchange_rate"] is None
    assert foreign_currency.in_program_currency("CNY", data, None) is data


def test_the_lines_total_is_checked_in_the_currency_paid() -> None:
    # 9.99 paid for 3 x 3.33: equal as given, though 3 x 23.64 < 70.93 once converted one by one
    rate = RateUsed("USD", "CNY", Decimal("7.10000000"), date(2026, 11, 1), None)
    data = _order("9.99", lines=[{"sku": "A", "quantity": 3, "unit_price": "3.33"}])
    assert order_plan.check_order(_config(), data, rate) == [Decimal("70.93")]
    with pytest.raises(ValidationFailed) as caught:
        order_plan.check_order(
            _config(), _order("10.00", lines=[{"sku": "A", "quantity": 3, "unit_price": "3.33"}]), rate
        )
    assert [e.code for e in caught.value.errors] == ["exceeds_lines"]


def test_no_rate_and_another_problem_are_reported_together() -> None:
    future = _order(occurred_at=(NOW + timedelta(hours=1)).isoformat())
    with pytest.raises(ValidationFailed) as caught:
        order_plan.check_order(_config(), future)
    assert not isinstance(caught.value, NoExchangeRate)  # not only the rate: a plain validation failure
    assert [(e.field, e.code) for e in caught.value.errors] == [
        ("currency", "no_exchange_rate"),
        ("occurred_at", "future_date"),
    ]
