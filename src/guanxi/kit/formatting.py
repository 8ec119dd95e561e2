"""Money, numbers, dates and times as a reader of the given language expects them (Babel's CLDR data).

Every user-visible figure goes through here, in the console, in generated explanations and in
exports meant for people: nothing hand-writes a thousands separator, a currency sign or a date
order. `language` is a catalog language ("zh-CN" or "en", see `kit.i18n`); times are stored in UTC
and shown in the configured zone (Asia/Shanghai by default).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_currency, format_decimal, format_percent

from guanxi.kit import clock
from guanxi.kit.i18n import DEFAULT_LANGUAGE, normalize_language

EMPTY = "—"

# Catalog language -> CLDR locale. zh-CN is Simplified Chinese as written in mainland China.
_LOCALES = {"zh-CN": "zh_Hans_CN", "en": "en"}


@lru_cache(maxsize=8)
def locale_of(language: str | None) -> Locale:
    return Locale.parse(_LOCALES[normalize_language(language or DEFAULT_LANGUAGE)])


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _timezone() -> ZoneInfo:
    from guanxi.config import get_settings  # config sits above kit; read lazily

    return _zone(get_settings().timezone)


def money(amount: Decimal | int | float | None, currency: str = "CNY", language: str | None = None) -> str:
    """¥508.30 in Chinese, CN¥508.30 in English; US$ / $ for dollars; always the currency's decimals."""
    if amount is None:
        return EMPTY
    return format_currency(Decimal(str(amount)), currency, locale=locale_of(language))


def number(value: Decimal | int | float | None, language: str | None = None, *, decimals: int | None = None) -> str:
    """5,126 — grouped; `decimals` fixes the fraction digits (else as many as the value has)."""
    if value is None:
        return EMPTY
    if decimals is None:
        return format_decimal(value, locale=locale_of(language))
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=locale_of(language))


def signed(value: Decimal | int | None, language: str | None = None) -> str:
    """+808 / -115: points movements show their direction."""
    if value is None:
        return EMPTY
    text = number(abs(Decimal(value)), language)
    return f"+{text}" if value > 0 else (f"-{text}" if value < 0 else text)


def percent(ratio: Decimal | float | None, language: str | None = None, *, decimals: int = 1) -> str:
    """A ratio (0.123) as a percentage (12.3%)."""
    if ratio is None:
        return EMPTY
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "") + "%"
    return format_percent(ratio, format=pattern, locale=locale_of(language))


def day(value: date | None, language: str | None = None) -> str:
    """2026年3月4日 / Mar 4, 2026."""
    if value is None:
        return EMPTY
    if isinstance(value, datetime):
        value = clock.as_utc(value).astimezone(_timezone()).date()
    return format_skeleton("yMMMd", value, locale=locale_of(language))


def month(value: date | None, language: str | None = None) -> str:
    """2026年3月 / Mar 2026."""
    if value is None:
        return EMPTY
    return format_skeleton("yMMM", value, locale=locale_of(language))


def moment(value: datetime | None, language: str | None = None) -> str:
    """A stored UTC time in the configured zone, to the minute: 2026年3月4日 13:05 / Mar 4, 2026, 13:05."""
    if value is None:
        return EMPTY
    local = clock.as_utc(value).astimezone(_timezone())
    locale = locale_of(language)
    # CLDR's own way of joining a medium date and a short time ("{1} {0}" in Chinese, "{1}, {0}" in English).
    pattern = str(locale.datetime_formats["medium"])
    return pattern.replace("{1}", format_date(local, "medium", locale=locale)).replace(
        "{0}", format_time(local, "short", locale=locale)
    )
