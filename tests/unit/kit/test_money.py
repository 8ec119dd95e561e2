from __future__ import annotations

from decimal import Decimal

import pytest

from guanxi.kit.money import Money


def test_of_quantizes_half_up_to_minor_units() -> None:
    assert Money.of("10.005") == Money(Decimal("10.01"), "CNY")
    assert Money.of("10.004").amount == Decimal("10.00")
    assert Money.of(3).amount == Decimal("3.00")
    assert Money.of("100.5", "jpy") == Money(Decimal("101"), "JPY")
    assert str(Money.of("-2.345", "USD")) == "-2.35 USD"


def test_float_is_refused() -> None:
    with pytest.raises(TypeError):
        Money.of(1.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(1.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.of("10") * 0.1  # type: ignore[operator]


@pytest.mark.parametrize("amount", ["abc", "", "NaN", "Infinity", "-Infinity", "1e40"])
def test_non_amounts_are_refused(amount: str) -> None:
    with pytest.raises(ValueError):
        Money.of(amount)


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(ValueError):
        Money.of("1", "XXX")


def test_arithmetic_in_one_currency() -> None:
    a, b = Money.of("10.10"), Money.of("0.95")
    assert a + b == Money.of("11.05")
    assert a - b == Money.of("9.15")
    assert a * 3 == Money.of("30.30")
    assert a * Decimal("0.333") == Money.of("3.36")
    assert b < a
    assert a > b


def test_currency_mismatch_is_refused() -> None:
    cny, usd = Money.of("1"), Money.of("1", "USD")
    with pytest.raises(ValueError):
        cny + usd
    with pytest.raises(ValueError):
        cny - usd
    with pytest.raises(ValueError):
        _ = cny < usd
