"""Refusals about currencies and rates, each with its status and a stable code."""

from __future__ import annotations

from datetime import date

from guanxi.kit.errors import Conflict, FieldError, ValidationFailed
from guanxi.kit.i18n import t


class NoExchangeRate(ValidationFailed):
    code = "no_exchange_rate"
    title = "No exchange rate"


class UnknownCurrency(ValidationFailed):
    code = "unknown_currency"
    title = "Unknown currency"


class RateConflict(Conflict):
    code = "rate_conflict"
    title = "Rate conflict"


def no_rate_error(currency: str, day: date, field: str = "currency", language: str = "en") -> FieldError:
    return FieldError(
        field, t("currency.no_rate", language, currency=currency, date=day.isoformat()), NoExchangeRate.code
    )


def unknown_currency_error(code: str, field: str = "currency", language: str = "en") -> FieldError:
    return FieldError(field, t("currency.unknown_currency", language, currency=code), UnknownCurrency.code)


def no_rate(currency: str, day: date, language: str = "en") -> NoExchangeRate:
    error = no_rate_error(currency, day, language=language)
    return NoExchangeRate(message=error.message, errors=[error], extra={"currency": currency, "date": day.isoformat()})


def refusal(errors: list[FieldError]) -> ValidationFailed:
    """The refusal for these field errors: the currency's own kind when that is the only problem,
    so a caller can tell "no rate for that day" from a malformed order by the code alone."""
    message = "; ".join(f"{e.field}: {e.message}" for e in errors)
    codes = {e.code for e in errors}
    for kind in (NoExchangeRate, UnknownCurrency):
        if codes == {kind.code}:
            return kind(message=message, errors=errors)
    return ValidationFailed(message=message, errors=errors)
