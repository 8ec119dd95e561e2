"""Figures per locale: the exact text a reader of each language sees."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from guanxi.kit import formatting


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-CN", "¥5,126.30"), ("en", "CN¥5,126.30"), (None, "¥5,126.30"), ("zh", "¥5,126.30")],
)
def test_money_uses_the_locales_sign_and_grouping(language: str | None, expected: str) -> None:
    assert formatting.money(Decimal("5126.3"), "CNY", language) == expected


def test_money_in_another_currency_and_missing() -> None:
    assert formatting.money(Decimal("12"), "USD", "zh-CN") == "US$12.00"
    assert formatting.money(Decimal("12"), "USD", "en") == "$12.00"
    assert formatting.money(Decimal("1200"), "JPY", "en") == "¥1,200"
    assert formatting.money(None) == formatting.EMPTY


def test_numbers_percentages_and_signs() -> None:
    assert formatting.number(5126, "zh-CN") == "5,126"
    assert formatting.number(Decimal("12.5"), "en", decimals=2) == "12.50"
    assert formatting.number(Decimal("1234.5"), "en", decimals=0) == "1,234"
    assert formatting.signed(808, "zh-CN") == "+808"
    assert formatting.signed(-1115, "en") == "-1,115"
    assert formatting.signed(0, "en") == "0"
    assert formatting.percent(Decimal("0.123"), "zh-CN") == "12.3%"
    assert formatting.percent(0.5, "en", decimals=0) == "50%"


def test_dates_and_times_follow_the_locale_and_the_configured_zone() -> None:
    assert formatting.day(date(2026, 3, 4), "zh-CN") == "2026年3月4日"
    assert formatting.day(date(2026, 3, 4), "en") == "Mar 4, 2026"
    assert formatting.month(date(2026, 3, 4), "zh-CN") == "2026年3月"
    # 23:30 UTC is the next morning in Shanghai.
    late = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
    assert formatting.moment(late, "zh-CN") == "2026年3月5日 07:30"
    # CLDR puts a narrow no-break space before AM.
    assert formatting.moment(late, "en").replace("\u202f", " ") == "Mar 5, 2026, 7:30 AM"
    assert formatting.day(late, "en") == "Mar 5, 2026"
    assert formatting.moment(None) == formatting.EMPTY
