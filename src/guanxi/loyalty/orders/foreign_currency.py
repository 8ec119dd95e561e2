"""An order paid in another currency, as the program counts it. Pure: both order paths (one at a
time, and planned in batches) call these, so both convert alike by construction.

The rate is the one covering the order's local business day (the program's time zone, the day
the rules see). The paid amount and each line's unit price are converted at it; the paid amount
is then spread over the lines by their value as given, so the lines' shares add up to the
converted amount exactly. What was paid in the other currency stays on the order.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from guanxi.loyalty.currency import coverage
from guanxi.loyalty.currency.coverage import RateUsed
from guanxi.loyalty.program.schemas import OrderExchange, OrderIn
from guanxi.loyalty.rules import expiry

# Amount fields of an order given in its own currency (besides the lines' unit prices).
_AMOUNTS = ("paid_amount", "refunded_amount")


def currency_of(data: OrderIn) -> str:
    return data.currency.strip().upper()


def rate_key(program_currency: str, timezone: str, data: OrderIn) -> tuple[str, date] | None:
    """(currency, local day) whose rate the order needs; None when it needs none: paid in the
    program's currency, or refused before a rate matters (an unknown code, a time without zone)."""
    code = currency_of(data)
    if code == program_currency or not coverage.is_currency(code) or data.occurred_at.utcoffset() is None:
        return None
    return code, expiry.local_date(data.occurred_at, timezone)


def in_program_currency(program_currency: str, data: OrderIn, rate: RateUsed | None) -> OrderIn:
    """The order with its amounts converted at `rate` (None: it is in the program's currency)."""
    if rate is None:
        return data
    update: dict[str, Any] = {"currency": program_currency}
    for name in _AMOUNTS:
        value = getattr(data, name, None)
        if value is not None:
            update[name] = coverage.convert(value, rate)
    update["lines"] = [
        line.model_copy(update={"unit_price": coverage.convert(line.unit_price, rate)}) for line in data.lines
    ]
    return data.model_copy(update=update)


def exchange_columns(data: OrderIn, rate: RateUsed | None) -> dict[str, Any]:
    """The order row's record of the conversion (all None for the program's currency)."""
    return {
        "original_amount": data.paid_amount if rate else None,
        "original_currency": rate.currency if rate else None,
        "exchange_rate": rate.rate if rate else None,
        "rate_valid_from": rate.valid_from if rate else None,
    }


def exchange_answer(data: OrderIn, rate: RateUsed | None) -> OrderExchange | None:
    """The answer's `exchange`: which rate was used (None for the program's currency)."""
    if rate is None:
        return None
    return OrderExchange(currency=rate.currency, amount=data.paid_amount, rate=rate.rate, valid_from=rate.valid_from)
